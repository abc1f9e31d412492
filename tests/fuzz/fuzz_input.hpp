// SPDX-License-Identifier: Apache-2.0
#pragma once
// Helpers shared by the fuzz targets (tests/fuzz, docs/fuzzing.md).

#include <cstddef>
#include <cstdint>
#include <string>

namespace hsmctl::fuzz {

/// Reads every byte of `s` so that a result that points into freed or uninitialised memory is
/// caught by the sanitizers, and the optimiser cannot drop the call that produced it.
inline void consume(const std::string& s) {
  volatile unsigned sum = 0;
  for (char c : s) {
    sum = sum + static_cast<unsigned char>(c);
  }
  (void)sum;
}

/// Splits the input into pieces: each piece is a 1-byte length and that many bytes (shorter at
/// the end). Used to script a sequence of responses.
class Pieces {
 public:
  Pieces(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  /// The next piece; false when the input is used up.
  bool next(const std::uint8_t*& begin, std::size_t& length) {
    if (pos_ >= size_) {
      return false;
    }
    std::size_t want = data_[pos_++];
    // 0xFF: a long piece, the length continues in the next two bytes (big-endian).
    if (want == 0xFF && size_ - pos_ >= 2) {
      want = (static_cast<std::size_t>(data_[pos_]) << 8) | data_[pos_ + 1];
      pos_ += 2;
    }
    length = want < size_ - pos_ ? want : size_ - pos_;
    begin = data_ + pos_;
    pos_ += length;
    return true;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace hsmctl::fuzz
