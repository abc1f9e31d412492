// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/model/secret_ref.hpp"

namespace hsmctl::model {

std::string SecretRef::display() const {
  switch (kind) {
    case Kind::kEnv:
      return "env:" + target;
    case Kind::kFile:
      return "file:" + target;
    case Kind::kStore:
      return "store:" + target;
    case Kind::kPrompt:
      return "prompt";
    case Kind::kGenerate:
      return "generate";
  }
  return "?";
}

}  // namespace hsmctl::model
