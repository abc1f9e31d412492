// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/plan/plan.hpp"

namespace hsmctl::plan {

bool DevicePlan::has_changes() const {
  for (const auto& a : actions) {
    if (a.action_class != ActionClass::kBlocked)
      return true;
  }
  return false;
}

DeviceStatus DevicePlan::status() const {
  if (error)
    return DeviceStatus::kError;
  if (has_blocked())
    return DeviceStatus::kBlocked;
  if (has_changes())
    return DeviceStatus::kChanges;
  return DeviceStatus::kOk;
}

const char* to_string(DeviceStatus status) {
  switch (status) {
    case DeviceStatus::kOk:
      return "ok";
    case DeviceStatus::kChanges:
      return "changes";
    case DeviceStatus::kBlocked:
      return "blocked";
    case DeviceStatus::kError:
      return "error";
  }
  return "error";
}

bool DevicePlan::needs_reinit() const {
  return count(ActionClass::kReinitialize) > 0;
}
bool DevicePlan::has_blocked() const {
  return count(ActionClass::kBlocked) > 0;
}

int DevicePlan::count(ActionClass c) const {
  int n = 0;
  for (const auto& a : actions) {
    if (a.action_class == c)
      ++n;
  }
  return n;
}

const char* to_string(ActionClass action_class) {
  switch (action_class) {
    case ActionClass::kCreate:
      return "create";
    case ActionClass::kUpdate:
      return "update";
    case ActionClass::kReinitialize:
      return "reinitialize";
    case ActionClass::kDestroy:
      return "destroy";
    case ActionClass::kBlocked:
      return "blocked";
  }
  return "?";
}

}  // namespace hsmctl::plan
