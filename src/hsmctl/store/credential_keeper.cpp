// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/credential_keeper.hpp"

#include "hsmctl/store/crypto.hpp"
#include "hsmctl/util/bytes.hpp"

#include <sstream>

namespace hsmctl::store {

// The default record log: one entry per stream ("hsmctl-records/<stream>"), lines "<seq> <text>".
// Used by keepers without a file of their own (`--store none`, a plan before the first apply).
namespace {

CredentialKey records_key(const std::string& stream) {
  return {"hsmctl-records", stream};
}

Result<std::vector<std::string>> entry_lines(CredentialKeeper& keeper, const std::string& stream) {
  HSMCTL_TRY_ASSIGN(auto v, keeper.current(records_key(stream)));
  std::vector<std::string> out;
  if (!v)
    return out;
  std::istringstream in{std::string(v->view())};
  for (std::string line; std::getline(in, line);) {
    if (!line.empty())
      out.push_back(line);
  }
  return out;
}

Result<void> save_entry_lines(CredentialKeeper& keeper, const std::string& stream,
                              const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines)
    text += l + "\n";
  return keeper.record_current(records_key(stream), Secret(std::string_view(text)));
}

}  // namespace

Result<std::vector<LogRecord>> CredentialKeeper::records(const std::string& stream) {
  HSMCTL_TRY_ASSIGN(auto lines, entry_lines(*this, stream));
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
  HSMCTL_TRY_ASSIGN(auto lines, entry_lines(*this, stream));
  HSMCTL_TRY_ASSIGN(Bytes raw, crypto::random_bytes(8));
  const std::string seq = to_hex(raw);
  lines.push_back(seq + " " + text);
  HSMCTL_TRY(save_entry_lines(*this, stream, lines));
  return seq;
}

Result<void> CredentialKeeper::drop_records(const std::string& stream,
                                            const std::string& through_seq) {
  HSMCTL_TRY_ASSIGN(auto lines, entry_lines(*this, stream));
  auto it = lines.begin();
  for (auto i = lines.begin(); i != lines.end(); ++i) {
    if (i->substr(0, i->find(' ')) == through_seq) {
      it = i + 1;
      break;
    }
    it = lines.end();
  }
  lines.erase(lines.begin(), it);
  return save_entry_lines(*this, stream, lines);
}

}  // namespace hsmctl::store
