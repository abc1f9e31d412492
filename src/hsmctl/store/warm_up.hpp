// SPDX-License-Identifier: Apache-2.0
#pragma once
// OpenSSL's first use costs about 3 ms of CPU on the development machine (reading the system
// configuration, loading the default provider, building its method tables for digests, ciphers
// and KDFs), and a `plan` pays it before the store is decrypted. A CryptoWarmUp does that work on
// a second thread while the caller does something else (reading the manifests). It touches no
// store and no secret: it initialises the library exactly as the first store operation would
// (configuration included, so a FIPS configuration applies as before) and fetches the
// algorithms the store uses, so their later use finds them ready.

#include <thread>

namespace hsmctl::store {

class CryptoWarmUp {
 public:
  /// Starts the warm-up thread, with every signal blocked in it (SIGINT and SIGTERM keep going
  /// to the caller's thread, whose mask is left as it was); without a thread (none can be
  /// created) nothing happens and ready() or the first store operation initialises OpenSSL.
  CryptoWarmUp();
  /// Joins the thread.
  ~CryptoWarmUp();
  CryptoWarmUp(const CryptoWarmUp&) = delete;
  CryptoWarmUp& operator=(const CryptoWarmUp&) = delete;

  /// Returns when the warm-up is done: runs warm_up_crypto() on the calling thread, which waits
  /// (inside OpenSSL) for what the thread is doing and does itself what the thread has not
  /// started. So a thread that has not had a core yet (a busy machine) costs the caller nothing
  /// but the work it would have done anyway. Call before the store is used.
  void ready();

 private:
  std::thread thread_;
};

/// What the warm-up thread runs (also callable directly): OpenSSL initialised with its
/// configuration, the store's algorithms (SHA-256, AES-256-GCM, HKDF) fetched once and the
/// shared random generator seeded. Never fails: a failure here is met again, and reported, by
/// the operation that needs the library.
void warm_up_crypto();

}  // namespace hsmctl::store
