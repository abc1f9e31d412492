// SPDX-License-Identifier: Apache-2.0
#pragma once
// The reconcile loop for one Pico HSM: prepare() resolves the manifest's secrets, opens the
// device, observes it and plans; execute() applies that plan in the same exclusive card session,
// with every credential change staged in the credential store before it is sent.

#include "hsmctl/device/transport.hpp"
#include "hsmctl/families/schsm_engine/capabilities.hpp"
#include "hsmctl/families/schsm_engine/diff.hpp"
#include "hsmctl/family/family.hpp"
#include "hsmctl/model/observed.hpp"
#include "hsmctl/model/pico_hsm.hpp"
#include "hsmctl/store/credential_keeper.hpp"
#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hsmctl::families::schsm_engine {

/// Credential values for one device; never rendered.
struct DeviceCredentials {
  std::optional<Secret> user_desired;  ///< unset when it is still to be generated
  std::optional<Secret> so_desired;    ///< normalised to 8 bytes
  bool user_generate = false;
  bool so_generate = false;
  /// How apply generates them (the manifest's `generate:`), copied at prepare().
  model::GenerateSpec user_generate_spec;
  model::GenerateSpec so_generate_spec;
  std::optional<Secret> user_current;  ///< a value the device accepted during observation
  std::optional<Secret> so_current;
  /// The device rejected the pending value an interrupted run left: it kept the old one.
  bool user_pending_rejected = false;
  bool so_pending_rejected = false;
  /// An interrupted run's journal shows the pending value was never sent (or was refused).
  bool user_pending_unsent = false;
  bool so_pending_unsent = false;
  /// By key domain: the manifest's DKEK shares, decrypted from their files at prepare() when an
  /// import may be planned (never rendered, wiped with this object).
  std::map<int, std::vector<Secret>> dkek_shares;
  /// By key domain: a digest of the share files' bytes (not secret), recorded with the KCV after
  /// an import so a later plan knows the files unchanged without decrypting them again.
  std::map<int, std::string> dkek_files_digest;
};

/// A device observed and planned, with its card session still held.
struct PreparedDevice {
  /// The desired state, owned (a copy of prepare()'s argument): the caller's manifest may be a
  /// temporary that is gone before execute() runs. execute() does not read it: every action of
  /// `plan` carries what it sends (its payload, diff.hpp), the values are in `credentials`.
  std::shared_ptr<const model::PicoHsmManifest> manifest;
  std::unique_ptr<device::Transport> transport;
  model::ObservedPico observed;
  CredentialFacts facts;
  plan::DevicePlan plan;
  DeviceCredentials credentials;
  /// Journals of interrupted applies to this device; apply closes them once it resolved them.
  std::vector<std::string> stale_journals;
  /// What the device family allows (prepare()'s argument); execute() follows the same.
  Capabilities caps;

  PreparedDevice() = default;
  PreparedDevice(PreparedDevice&&) = default;
  PreparedDevice& operator=(PreparedDevice&&) = default;
  PreparedDevice(const PreparedDevice&) = delete;
  PreparedDevice& operator=(const PreparedDevice&) = delete;
  ~PreparedDevice();
};

/// The store key of a device credential: {"pico:<serial>", "user-pin" | "so-pin"}.
store::CredentialKey credential_key(const std::string& serial, const char* name);
/// The same for a family's prefix (Capabilities::store_prefix): {"<prefix>:<serial>", name}.
store::CredentialKey credential_key(std::string_view prefix, const std::string& serial,
                                    const char* name);

/// Opens `device_uri` (see device/connect/open.hpp), takes the card exclusively, observes with the
/// safest credential candidates (store first, then the manifest; each value at most once, never
/// one the device rejected before: see docs/observation.md)
/// and plans. Fails before any device access when a secret cannot be resolved or is malformed,
/// and when the device's serial differs from the manifest's. `caps`: what the device family
/// allows (capabilities.hpp; default: the Pico HSM); a device of another family (by tag 85) is
/// refused with Errc::kRefused before any VERIFY with data.
Result<PreparedDevice> prepare(const model::PicoHsmManifest& manifest,
                               const std::string& device_uri, store::CredentialKeeper& keeper,
                               const Capabilities& caps = kPicoCapabilities);

/// As above, over a transport the caller opened (a wrapped or in-memory device).
Result<PreparedDevice> prepare(const model::PicoHsmManifest& manifest,
                               std::unique_ptr<device::Transport> transport,
                               store::CredentialKeeper& keeper,
                               const Capabilities& caps = kPicoCapabilities);

struct ApplyOptions {
  bool allow_reinit = false;    ///< --allow-reinit: re-initialization may run
  bool allow_key_loss = false;  ///< --allow-key-loss: ... even when the device holds keys
};

/// What execute() did (family/family.hpp: steps done/blocked/total, the signal it stopped on
/// between two steps (util/interrupt.hpp) and the summaries of the steps never sent): the family
/// interface's report, returned as is.
using ApplyReport = family::ExecReport;

/// Progress lines for the operator ("change user PIN: done"); never contain secrets.
using Progress = std::function<void(const std::string&)>;

/// Checks the guards without touching the device: Errc::kRefused naming the flag that is missing.
Result<void> check_guards(const PreparedDevice& prepared, const ApplyOptions& options);

/// The non-secret observed facts the plan of `prepared` depends on, human-named, in a fixed
/// order (family::PreparedUnit::observation_facts(); facts.cpp): serial, initialization,
/// options, PIN retry counters, what hsmctl knows about the PINs (never a value), key domains,
/// PKA, keys, the KCVs of the manifest's DKEK share files.
std::vector<std::pair<std::string, std::string>> observation_facts(const PreparedDevice& prepared);

/// Runs the plan's actions in order (blocked ones are skipped and counted). Stops at the first
/// failure; the credential store then holds pending values for anything whose outcome is unknown.
/// Checks stop_signal() (util/interrupt.hpp) before each step: once a stop was requested, the
/// step in progress has finished (command, store commit, journal), no further step starts, the
/// journal is closed as interrupted and the report says which steps were not started.
/// Each step sends what its action's payload says, with the values in `credentials`; an action
/// without the payload its kind needs is Errc::kInternal before anything is sent.
Result<ApplyReport> execute(PreparedDevice& prepared, const ApplyOptions& options,
                            store::CredentialKeeper& keeper, const Progress& progress);

}  // namespace hsmctl::families::schsm_engine
