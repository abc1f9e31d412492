// SPDX-License-Identifier: Apache-2.0
// `hsmctl show PLAN` and the saved-plan helpers of plan and apply (docs/review.md "Saved plans").

#include "cli/commands/saved_plan.hpp"

#include "cli/commands/commands.hpp"
#include "cli/output.hpp"
#include "cli/parse.hpp"
#include "cli/store_access.hpp"

#include "hsmctl/plan/plan.hpp"
#include "hsmctl/reconcile/saved_plan.hpp"
#include "hsmctl/secrets/digest.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>

namespace hsmctl::cli {
namespace {

/// Manifests are small; the manifest reader's own limit applies when they are loaded.
constexpr std::size_t kMaxManifestFile = std::size_t{64} * 1024 * 1024;

bool is_yaml(const std::filesystem::path& p) {
  const auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

}  // namespace

std::vector<std::string> normalize_out_option(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  out.reserve(args.size());
  for (const auto& a : args) {
    if (a == "-out") {
      out.emplace_back("--out");
    } else if (a.rfind("-out=", 0) == 0) {
      out.push_back("-" + a);
    } else {
      out.push_back(a);
    }
  }
  return out;
}

Result<std::vector<plan::SavedManifest>> manifest_digests(const std::vector<std::string>& files) {
  std::vector<std::string> paths;
  for (const auto& f : files) {
    if (f == "-") {
      return make_error(Errc::kUsage,
                        "a saved plan cannot bind manifests read from standard input (-f -); "
                        "give the files");
    }
    std::error_code ec;
    if (std::filesystem::is_directory(f, ec)) {
      std::vector<std::string> inside;
      for (const auto& entry : std::filesystem::directory_iterator(f, ec)) {
        if (is_yaml(entry.path()))
          inside.push_back((std::filesystem::path(f) / entry.path().filename()).string());
      }
      std::sort(inside.begin(), inside.end());
      paths.insert(paths.end(), inside.begin(), inside.end());
    } else {
      paths.push_back(f);
    }
  }
  std::vector<plan::SavedManifest> out;
  for (const auto& p : paths) {
    HSMCTL_TRY_ASSIGN(RegularFile file, read_regular_file(p, kMaxManifestFile));
    out.push_back({p, secrets::file_digest(file.content)});
  }
  return out;
}

std::vector<std::string> manifest_changes(const std::vector<plan::SavedManifest>& saved,
                                          const std::vector<plan::SavedManifest>& now) {
  std::map<std::string, std::string> current;
  for (const auto& m : now)
    current[m.path] = m.sha256;
  std::vector<std::string> out;
  for (const auto& m : saved) {
    auto it = current.find(m.path);
    if (it == current.end()) {
      out.push_back("manifest " + m.path + " was removed since the plan");
    } else if (it->second != m.sha256) {
      out.push_back("manifest " + m.path + " changed since the plan");
    }
  }
  for (const auto& m : now) {
    if (std::none_of(saved.begin(), saved.end(),
                     [&](const plan::SavedManifest& s) { return s.path == m.path; })) {
      out.push_back("manifest " + m.path + " was added since the plan");
    }
  }
  return out;
}

int show_main(const std::vector<std::string>& args, const GlobalOptions& global) {
  std::string path;
  std::string output = "text";
  po::options_description o("show options");
  o.add_options()("plan", po::value(&path)->required(),
                  "the saved plan file (hsmctl plan -out FILE), the positional argument")(
      "output,o", po::value(&output), "text, json or markdown");
  po::positional_options_description pos;
  pos.add("plan", 1);
  bool help = false;
  if (!parse_command("show", args, o, pos, &help))
    return help ? kExitOk : kExitUsage;
  if (output != "text" && output != "json" && output != "markdown") {
    std::cerr << "hsmctl: error: show: --output must be text, json or markdown\n";
    return kExitUsage;
  }
  if (global.store_path == "none") {
    std::cerr << "hsmctl: error: show: a saved plan is authenticated with a key in the credential "
                 "store; --store none has none\n";
    return kExitUsage;
  }
  auto keeper = open_keeper(global, /*will_write=*/false);
  if (!keeper) {
    print_error(keeper.error());
    return exit_code_for(keeper.error());
  }
  auto saved = reconcile::read_saved_plan(path, **keeper);
  if (!saved) {
    print_error(saved.error());
    return exit_code_for(saved.error());
  }
  std::vector<plan::DevicePlan> plans;
  plans.reserve(saved->units.size());
  for (const auto& u : saved->units)
    plans.push_back(u.plan);
  std::cout << (output == "json"       ? plan::render_json(plans)
                : output == "markdown" ? plan::render_markdown(plans)
                                       : plan::render_text(plans, global.color));
  return kExitOk;
}

}  // namespace hsmctl::cli
