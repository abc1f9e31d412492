// SPDX-License-Identifier: Apache-2.0
// store::CryptoWarmUp: OpenSSL initialised on a second thread (issue 8 item 7). The store's
// primitives work during and after it, ready() may be called more than once, and the thread is
// joined by the destructor.

#include "hsmctl/store/warm_up.hpp"

#include "hsmctl/store/crypto.hpp"

#include <gtest/gtest.h>

#include <pthread.h>
#include <signal.h>

namespace hsmctl::store {
namespace {

TEST(CryptoWarmUp, StorePrimitivesWorkWhileAndAfterItRuns) {
  CryptoWarmUp warm_up;
  // Concurrently with the warm-up thread: OpenSSL's initialisation is thread-safe.
  EXPECT_EQ(to_hex(crypto::sha256(bytes_of(std::string("abc")))),
            "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
  warm_up.ready();
  warm_up.ready();  // again: returns at once
  const Secret key(Bytes(32, 0x11));
  const Bytes iv(12, 0x22);
  auto sealed = crypto::aes256gcm_seal(key, iv, {}, bytes_of(std::string("payload")));
  ASSERT_TRUE(sealed) << sealed.error().message;
  auto opened = crypto::aes256gcm_open(key, iv, {}, *sealed);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(std::string(opened->bytes().begin(), opened->bytes().end()), "payload");
}

TEST(CryptoWarmUp, LeavesTheCallersSignalMaskAsItWas) {
  sigset_t before;
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &before), 0);
  ASSERT_EQ(sigismember(&before, SIGINT), 0);
  CryptoWarmUp warm_up;
  sigset_t after;
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &after), 0);
  EXPECT_EQ(sigismember(&after, SIGINT), 0);
  EXPECT_EQ(sigismember(&after, SIGTERM), 0);
  warm_up.ready();
}

TEST(CryptoWarmUp, TheDestructorJoinsAThreadNobodyJoined) {
  { CryptoWarmUp warm_up; }
  warm_up_crypto();  // and the work itself may run again: it is idempotent
  EXPECT_EQ(crypto::sha256({}).size(), 32u);
}

}  // namespace
}  // namespace hsmctl::store
