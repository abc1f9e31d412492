// SPDX-License-Identifier: Apache-2.0
// A main() for the fuzz targets in builds without libFuzzer (gcc, the ASan build): runs every
// file given, or every file inside each directory given, through LLVMFuzzerTestOneInput once.
// ctest uses it to replay the seed corpora and the regression inputs (tests/fuzz/CMakeLists.txt),
// so a crash found once stays fixed without clang.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg(argv[i]);
    if (fs::is_directory(arg)) {
      for (const auto& entry : fs::recursive_directory_iterator(arg)) {
        if (entry.is_regular_file() && entry.path().filename().string()[0] != '.') {
          files.push_back(entry.path());
        }
      }
    } else if (fs::is_regular_file(arg)) {
      files.push_back(arg);
    } else {
      std::fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "replay: no inputs\n");
    return 2;
  }
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    // A fresh heap copy of exactly the input's size, so ASan sees reads past its end.
    std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
    static std::uint8_t none = 0;  // libFuzzer never passes a null pointer either
    const std::uint8_t* data = copy.empty() ? &none : copy.data();
    LLVMFuzzerTestOneInput(data, copy.size());
  }
  std::printf("replay: %zu inputs ok\n", files.size());
  return 0;
}
