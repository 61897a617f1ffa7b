// Copyright 2026 The cancelpool Authors.
//
// Replays the checked-in fuzz corpus (tests/reliability/fuzz_corpus/)
// through LLVMFuzzerTestOneInput, so every build -- gcc, --config=asan,
// --config=tsan -- runs the fuzzer's inputs with its checks. Set
// CANCELPOOL_FUZZ_CORPUS=<dir> to replay another directory (e.g. a corpus
// grown by build_fuzzer.sh's binary).
#include <dirent.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> files;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      files.push_back(dir + "/" + e->d_name);
    }
    closedir(d);
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(FuzzReplayTest, CheckedInCorpus) {
  const char* env = std::getenv("CANCELPOOL_FUZZ_CORPUS");
  const std::string dir =
      env != nullptr ? env : "tests/reliability/fuzz_corpus";
  const std::vector<std::string> files = ListDir(dir);
  ASSERT_FALSE(files.empty()) << "no corpus files in " << dir;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()),
                           bytes.size());  // aborts on a failed check
  }
  std::printf("[fuzz-replay] %zu inputs from %s: all checks passed\n",
              files.size(), dir.c_str());
}

}  // namespace
