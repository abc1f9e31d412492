// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/warm_up.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <pthread.h>
#include <signal.h>

#include <system_error>

namespace hsmctl::store {

void warm_up_crypto() {
  // The same initialisation the first EVP call would do, configuration included (never
  // OPENSSL_INIT_NO_LOAD_CONFIG). NO_ATEXIT: the process exits without OpenSSL freeing its
  // tables one by one first (about 0.5 ms); it holds no key material of ours (keys live in
  // Secret and EVP contexts freed after each use) and the memory goes with the process.
  // NO_ADD_ALL_*: the legacy name tables (every cipher and digest by its old name, about 40% of
  // the initialisation's time) are not built. hsmctl names no algorithm through them
  // (EVP_get_cipherbyname, encrypted PEM); fetches by name go to the providers, which register
  // their own names. The first call decides: both flags must come before anything else in
  // OpenSSL builds the name map, which is why the warm-up runs first thing in main.
  OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT |
                          OPENSSL_INIT_NO_ADD_ALL_CIPHERS | OPENSSL_INIT_NO_ADD_ALL_DIGESTS,
                      nullptr);
  // Fetched with the configuration's default properties (a null query), as the store's own
  // implicit fetches are; freeing them leaves them in the library's method cache.
  EVP_MD_free(EVP_MD_fetch(nullptr, "SHA2-256", nullptr));
  EVP_CIPHER_free(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
  EVP_KDF_free(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  // The shared random generator, instantiated and seeded (no output is drawn): the record
  // appended before each VERIFY takes its sequence number from it.
  (void)RAND_get0_primary(nullptr);
}

CryptoWarmUp::CryptoWarmUp() {
  // Every signal stays with the calling thread: SIGINT/SIGTERM must interrupt its blocking reads
  // (a prompt, the apply confirmation) as they always did (util/interrupt.hpp). The new thread
  // inherits a mask that blocks them all, from its first instruction on.
  sigset_t all;
  sigset_t before;
  sigfillset(&all);
  if (pthread_sigmask(SIG_BLOCK, &all, &before) != 0)
    return;  // no thread then: the store initialises OpenSSL itself, as it always did
  try {
    thread_ = std::thread(warm_up_crypto);
  } catch (const std::system_error&) {
    // No thread: the store initialises OpenSSL itself, as it always did.
  }
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

CryptoWarmUp::~CryptoWarmUp() {
  if (thread_.joinable())
    thread_.join();
}

void CryptoWarmUp::ready() {
  // Idempotent, and OpenSSL's initialisation and method caches are thread-safe: whatever the
  // thread finished is found ready here, whatever it is doing is waited for, the rest is done now.
  warm_up_crypto();
}

}  // namespace hsmctl::store
