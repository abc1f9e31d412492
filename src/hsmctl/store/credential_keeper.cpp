// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/credential_keeper.hpp"

#include "hsmctl/store/crypto.hpp"
#include "hsmctl/store/fingerprint.hpp"
#include "hsmctl/util/bytes.hpp"

namespace hsmctl::store {

// The default record log: one entry per stream ("hsmctl-records/<stream>"), lines "<seq> <text>".
// Used by keepers without a file of their own (`--store none`, a plan before the first apply).
namespace {

CredentialKey records_key(const std::string& stream) {
  return {"hsmctl-records", stream};
}

}  // namespace

Result<std::vector<LogRecord>> CredentialKeeper::records(const std::string& stream) {
  HSMCTL_TRY_ASSIGN(auto lines, load_lines(*this, records_key(stream)));
  std::vector<LogRecord> out;
  for (const auto& l : lines) {
    const auto sp = l.find(' ');
    if (sp == std::string::npos)
      continue;
    out.push_back({l.substr(0, sp), l.substr(sp + 1)});
  }
  return out;
}

Result<std::string> CredentialKeeper::append_record(const std::string& stream,
                                                    const std::string& text, bool /*durable*/) {
  HSMCTL_TRY_ASSIGN(auto lines, load_lines(*this, records_key(stream)));
  HSMCTL_TRY_ASSIGN(Bytes raw, crypto::random_bytes(8));
  const std::string seq = to_hex(raw);
  lines.push_back(seq + " " + text);
  HSMCTL_TRY(save_lines(*this, records_key(stream), lines));
  return seq;
}

Result<void> CredentialKeeper::drop_records(const std::string& stream,
                                            const std::string& through_seq) {
  HSMCTL_TRY_ASSIGN(auto lines, load_lines(*this, records_key(stream)));
  auto it = lines.begin();
  for (auto i = lines.begin(); i != lines.end(); ++i) {
    if (i->substr(0, i->find(' ')) == through_seq) {
      it = i + 1;
      break;
    }
    it = lines.end();
  }
  lines.erase(lines.begin(), it);
  return save_lines(*this, records_key(stream), lines);
}

}  // namespace hsmctl::store
