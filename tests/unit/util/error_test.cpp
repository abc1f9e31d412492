// SPDX-License-Identifier: Apache-2.0
// Error carries a typed cause (status word, vendor code, errno) that callers decide by; the
// message is for humans only.
#include "hsmctl/util/error.hpp"

#include <gtest/gtest.h>

#include <errno.h>

namespace hsmctl {
namespace {

TEST(Error, HasNoCauseByDefault) {
  const Error e = make_error(Errc::kDevice, "something failed: SW 6400").value();
  EXPECT_EQ(e.status_word(), std::nullopt);  // text is never parsed into a cause
  EXPECT_EQ(e.vendor_code(), std::nullopt);
  EXPECT_EQ(e.sys_errno(), std::nullopt);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(e.cause));
}

TEST(Error, EachAccessorAnswersOnlyItsOwnCause) {
  const Error sw = make_error(Errc::kDevice, "x", StatusWord{0x6A82}).value();
  EXPECT_EQ(sw.status_word(), 0x6A82);
  EXPECT_EQ(sw.vendor_code(), std::nullopt);
  EXPECT_EQ(sw.sys_errno(), std::nullopt);

  const Error vendor = make_error(Errc::kAuth, "x", VendorCode{0x80005017}).value();
  EXPECT_EQ(vendor.vendor_code(), 0x80005017u);
  EXPECT_EQ(vendor.status_word(), std::nullopt);
  EXPECT_EQ(vendor.sys_errno(), std::nullopt);

  const Error sys = make_error(Errc::kIo, "x", SysErrno{ENOENT}).value();
  EXPECT_EQ(sys.sys_errno(), ENOENT);
  EXPECT_EQ(sys.status_word(), std::nullopt);
  EXPECT_EQ(sys.vendor_code(), std::nullopt);
}

TEST(Error, TheCauseSurvivesCopiesAndDoesNotChangeTheText) {
  Error e{Errc::kDevice,
          "sim:/tmp/x: INITIALIZE DEVICE failed: SW 6A80",
          std::nullopt,
          {},
          StatusWord{0x6A80}};
  Error copy = e;
  copy.message = "step: " + copy.message;
  EXPECT_EQ(copy.status_word(), 0x6A80);
  EXPECT_EQ(copy.to_string(), "step: sim:/tmp/x: INITIALIZE DEVICE failed: SW 6A80");
}

TEST(Error, ToStringPrintsAFileWithoutLineAsItsPrefix) {
  const Error e{Errc::kIo, "cannot read: Is a directory", SourcePos{"m.yaml", 0, 0}, {}};
  EXPECT_EQ(e.to_string(), "m.yaml: cannot read: Is a directory");
  const Error pos{Errc::kManifest, "bad", SourcePos{"m.yaml", 3, 7}, "spec.x"};
  EXPECT_EQ(pos.to_string(), "m.yaml:3:7: spec.x: bad");
}

}  // namespace
}  // namespace hsmctl
