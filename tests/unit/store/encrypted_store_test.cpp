// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/encrypted_store.hpp"

#include "store_test_support.hpp"

#include "hsmctl/store/unlock.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

namespace hsmctl::store {
namespace {

using namespace hsmctl::store::testing;

const CredentialKey kUser{"pico:E6614C311B4A2B21", "user-pin"};
const CredentialKey kSo{"pico:E6614C311B4A2B21", "so-pin"};

Secret S(const char* v) {
  return Secret(std::string_view(v));
}

class StoreEncrypted : public ::testing::Test {
 protected:
  Result<EncryptedStore> create(const char* pass = kPassphrase) {
    return EncryptedStore::create(path_, passphrase(pass), KeyMode::kPassphrase, weak_options());
  }
  Result<EncryptedStore> reopen(const char* pass = kPassphrase) {
    return EncryptedStore::open(path_, passphrase(pass), weak_options());
  }
  mode_t mode_of(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }

  TempDir dir_;
  std::string path_ = dir_.file("sub/store.hsmctl");
};

TEST_F(StoreEncrypted, RoundTripSurvivesReopening) {
  {
    auto store = create();
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->record_current(kUser, S(kPinA)));
    ASSERT_TRUE(store->set({"", "root-ca"}, S(kSoPin), {{"source", "manual"}}));
  }
  EXPECT_EQ(mode_of(path_), 0600u);
  EXPECT_EQ(mode_of(dir_.file("sub")), 0700u);
  auto store = reopen();
  ASSERT_TRUE(store) << store.error().message;
  auto cur = store->current(kUser);
  ASSERT_TRUE(cur && *cur);
  EXPECT_EQ((*cur)->view(), kPinA);
  auto entry = store->get({"", "root-ca"});
  ASSERT_TRUE(entry && *entry);
  EXPECT_EQ((*entry)->current->view(), kSoPin);
  EXPECT_EQ((*entry)->metadata.at("source"), "manual");
  auto missing = store->current(kSo);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  // Two rewrites of the file: its creation, and the fold of the log when the first object
  // was destroyed (the updates themselves were appended to the log).
  auto gen = store->generation();
  ASSERT_TRUE(gen);
  EXPECT_EQ(*gen, 2u);
}

TEST_F(StoreEncrypted, CreateRefusesAnExistingStoreAndAWeakWorkFactor) {
  ASSERT_TRUE(create());
  auto again = create();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kStore);
  StoreOptions weak;
  weak.scrypt.log2_n = 10;  // without allow_weak_kdf_for_tests
  auto refused = EncryptedStore::create(dir_.file("weak.hsmctl"), passphrase(kPassphrase),
                                        KeyMode::kPassphrase, weak);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("tests only"), std::string::npos);
  StoreOptions huge;
  huge.scrypt.log2_n = kMaxLog2N + 1;
  EXPECT_FALSE(EncryptedStore::create(dir_.file("huge.hsmctl"), passphrase(kPassphrase),
                                      KeyMode::kPassphrase, huge));
}

TEST_F(StoreEncrypted, WrongPassphraseIsRefused) {
  ASSERT_TRUE(create());
  auto store = reopen(kOtherPassphrase);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, Errc::kStore);
  EXPECT_NE(store.error().message.find("wrong passphrase"), std::string::npos);
}

TEST_F(StoreEncrypted, MissingStoreIsUnavailable) {
  auto store = reopen();
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, Errc::kUnavailable);
}

TEST_F(StoreEncrypted, GroupOrWorldAccessibleFileIsRefused) {
  ASSERT_TRUE(create());
  for (mode_t mode : {0640, 0604, 0660, 0620}) {
    ASSERT_EQ(chmod(path_.c_str(), mode), 0);
    auto store = reopen();
    ASSERT_FALSE(store) << std::oct << mode;
    EXPECT_EQ(store.error().code, Errc::kStore);
    EXPECT_NE(store.error().message.find("chmod 600"), std::string::npos);
  }
  ASSERT_EQ(chmod(path_.c_str(), 0400), 0);
  EXPECT_TRUE(reopen());
}

TEST_F(StoreEncrypted, StageCommitDiscardSurviveReopening) {
  ASSERT_TRUE(create());
  {
    auto store = reopen();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->record_current(kUser, S(kPinA)));
    ASSERT_TRUE(store->stage(kUser, S(kPinB)));
  }
  {
    auto store = reopen();
    ASSERT_TRUE(store);
    EXPECT_EQ((*store->pending(kUser))->view(), kPinB);
    EXPECT_EQ((*store->current(kUser))->view(), kPinA);
    ASSERT_TRUE(store->commit(kUser));
  }
  {
    auto store = reopen();
    ASSERT_TRUE(store);
    EXPECT_EQ((*store->current(kUser))->view(), kPinB);
    EXPECT_FALSE(store->pending(kUser)->has_value());
    auto again = store->commit(kUser);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, Errc::kStore);
    ASSERT_TRUE(store->stage(kUser, S(kPinA)));
    ASSERT_TRUE(store->discard(kUser));
  }
  auto store = reopen();
  ASSERT_TRUE(store);
  EXPECT_EQ((*store->current(kUser))->view(), kPinB);
  EXPECT_FALSE(store->pending(kUser)->has_value());
  EXPECT_TRUE(store->discard(kUser)) << "discard without pending is a no-op";
}

TEST_F(StoreEncrypted, CrashBetweenStageAndCommitKeepsBothValues) {
  ASSERT_TRUE(create());
  {
    auto store = reopen();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->record_current(kSo, S(kPinA)));
    ASSERT_TRUE(store->stage(kSo, S(kSoPin)));
    // The process "dies" here: no commit, no discard.
  }
  auto store = reopen();
  ASSERT_TRUE(store);
  EXPECT_EQ((*store->current(kSo))->view(), kPinA);
  EXPECT_EQ((*store->pending(kSo))->view(), kSoPin);
  auto list = store->list();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].state, "pending");
  // A different value cannot be staged over the unresolved one...
  auto restage = store->stage(kSo, S(kPinB));
  ASSERT_FALSE(restage);
  EXPECT_EQ(restage.error().code, Errc::kStore);
  // ...and neither can set() overwrite it.
  EXPECT_FALSE(store->set(kSo, S(kPinB)));
  // The same value again is fine (idempotent resume).
  EXPECT_TRUE(store->stage(kSo, S(kSoPin)));
  EXPECT_EQ((*store->current(kSo))->view(), kPinA);
}

TEST_F(StoreEncrypted, RecordCurrentClearsPending) {
  ASSERT_TRUE(create());
  auto store = reopen();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->record_current(kUser, S(kPinA)));
  ASSERT_TRUE(store->stage(kUser, S(kPinB)));
  ASSERT_TRUE(store->record_current(kUser, S(kPinA)));  // device verified the old value
  EXPECT_EQ((*store->current(kUser))->view(), kPinA);
  EXPECT_FALSE(store->pending(kUser)->has_value());
}

TEST_F(StoreEncrypted, RmAndListNeverExposeValues) {
  ASSERT_TRUE(create());
  auto store = reopen();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set({"", "b-entry"}, S(kPinA)));
  ASSERT_TRUE(store->set({"", "a-entry"}, S(kPinB), {{"note", "lab"}}));
  auto list = store->list();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "a-entry");
  EXPECT_EQ((*list)[0].metadata.at("note"), "lab");
  EXPECT_TRUE((*list)[0].has_current);
  ASSERT_TRUE(store->rm({"", "a-entry"}));
  auto missing = store->rm({"", "a-entry"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kStore);
  EXPECT_EQ(store->list()->size(), 1u);
}

TEST_F(StoreEncrypted, PassphraseChangeReencrypts) {
  ASSERT_TRUE(create());
  auto before = read_file(path_);
  ASSERT_TRUE(before);
  {
    auto store = reopen();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->record_current(kUser, S(kPinA)));
    ASSERT_TRUE(store->change_key(passphrase(kOtherPassphrase), KeyMode::kPassphrase));
    // The same object keeps working with the new key.
    ASSERT_TRUE(store->stage(kUser, S(kPinB)));
  }
  auto after = read_file(path_);
  ASSERT_TRUE(after);
  EXPECT_FALSE(std::equal(before->begin() + 21, before->begin() + 37, after->begin() + 21))
      << "a new passphrase gets a new salt";
  auto old = reopen(kPassphrase);
  ASSERT_FALSE(old);
  EXPECT_NE(old.error().message.find("wrong passphrase"), std::string::npos);
  auto store = reopen(kOtherPassphrase);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store->current(kUser))->view(), kPinA);
  EXPECT_EQ((*store->pending(kUser))->view(), kPinB);
  // No temporary file is left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.file("sub"))) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 4);  // store + lock + rollback record (.seen) + record log (.records)
}

TEST_F(StoreEncrypted, KeyFileMode) {
  const std::string key_path = dir_.file("keys/store.key");
  auto key_source = [&]() {
    UnlockOptions o;
    o.key_file = key_path;
    o.allow_prompt = false;
    return std::make_shared<ConfiguredKeySource>(o);
  };
  {
    auto store = EncryptedStore::create(path_, key_source(), KeyMode::kKeyFile, weak_options());
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ(store->mode(), KeyMode::kKeyFile);
    ASSERT_TRUE(store->record_current(kUser, S(kPinA)));
  }
  EXPECT_EQ(mode_of(key_path), 0600u);
  EXPECT_EQ(std::filesystem::file_size(key_path), 32u);
  auto bytes = read_file(path_);
  ASSERT_TRUE(bytes);
  EXPECT_EQ((*bytes)[10], 3) << "header records key-file mode";
  EXPECT_EQ((*bytes)[12], 0) << "no scrypt parameters in key-file mode";
  auto store = EncryptedStore::open(path_, key_source(), weak_options());
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store->current(kUser))->view(), kPinA);
  // A passphrase does not open a key-file store, and says why.
  auto with_pass = reopen();
  ASSERT_FALSE(with_pass);
  EXPECT_NE(with_pass.error().message.find("key file"), std::string::npos);
  // Another key file is a wrong key.
  auto other = std::make_shared<FixedKeySource>(KeyMode::kKeyFile, Secret(Bytes(32, 0x42)));
  auto wrong = EncryptedStore::open(path_, other, weak_options());
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("wrong key file"), std::string::npos);
  // A missing key file is not silently re-created when opening.
  ASSERT_EQ(unlink(key_path.c_str()), 0);
  auto missing = EncryptedStore::open(path_, key_source(), weak_options());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos);
}

TEST_F(StoreEncrypted, SwitchFromPassphraseToKeyFile) {
  ASSERT_TRUE(create());
  auto store = reopen();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set({"", "x"}, S(kPinA)));
  auto key = std::make_shared<FixedKeySource>(KeyMode::kKeyFile, Secret(Bytes(32, 0x17)));
  ASSERT_TRUE(store->change_key(key, KeyMode::kKeyFile));
  EXPECT_FALSE(reopen());
  auto again = EncryptedStore::open(path_, key, weak_options());
  ASSERT_TRUE(again);
  EXPECT_EQ((*again->current({"", "x"}))->view(), kPinA);
}

TEST_F(StoreEncrypted, TwoProcessesNeverLoseAnUpdate) {
  ASSERT_TRUE(create());
  constexpr int kPerProcess = 50;
  pid_t children[2];
  for (int c = 0; c < 2; ++c) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int failures = 0;
      auto store = reopen();
      if (!store)
        _exit(100);
      for (int i = 0; i < kPerProcess; ++i) {
        CredentialKey key{"", "p" + std::to_string(c) + "-" + std::to_string(i)};
        if (!store->set(key, S(kPinA)))
          ++failures;
      }
      _exit(failures == 0 ? 0 : 101);
    }
    children[c] = pid;
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  auto store = reopen();
  ASSERT_TRUE(store);
  auto list = store->list();
  ASSERT_TRUE(list);
  std::set<std::string> ids;
  for (const auto& e : *list)
    ids.insert(e.id);
  EXPECT_EQ(ids.size(), 2u * kPerProcess);
  for (int c = 0; c < 2; ++c) {
    for (int i = 0; i < kPerProcess; ++i) {
      EXPECT_TRUE(ids.count("p" + std::to_string(c) + "-" + std::to_string(i)));
    }
  }
  // Every update went to the log (the children _exit without folding it): the file was
  // written once, by create().
  EXPECT_EQ(*store->generation(), 1u);
}

TEST_F(StoreEncrypted, ExportImportRoundTrip) {
  const std::string backup = dir_.file("backup.hsmctl");
  {
    auto store = create();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->record_current(kUser, S(kPinA)));
    ASSERT_TRUE(store->set({"", "root-ca"}, S(kSoPin)));
    FixedKeySource backup_keys(KeyMode::kPassphrase, S(kBackupPassphrase));
    ASSERT_TRUE(store->export_to(backup, backup_keys, KeyMode::kPassphrase));
    EXPECT_EQ(mode_of(backup), 0600u);
    EXPECT_FALSE(store->export_to(backup, backup_keys, KeyMode::kPassphrase))
        << "export does not overwrite";
  }
  // The backup has its own passphrase: the store's does not open it.
  auto backup_bytes = read_file(backup);
  ASSERT_TRUE(backup_bytes);
  FixedKeySource store_keys(KeyMode::kPassphrase, S(kPassphrase));
  auto with_store_key = decrypt_store_bytes(*backup_bytes, store_keys);
  ASSERT_FALSE(with_store_key);
  EXPECT_EQ(with_store_key.error().kind, FailureKind::kWrongKey);

  const std::string other = dir_.file("other.hsmctl");
  auto target = EncryptedStore::create(other, passphrase(kOtherPassphrase), KeyMode::kPassphrase,
                                       weak_options());
  ASSERT_TRUE(target);
  ASSERT_TRUE(target->set({"", "root-ca"}, S(kPinB)));  // conflicts with the backup
  FixedKeySource backup_keys(KeyMode::kPassphrase, S(kBackupPassphrase));
  auto conflict = target->import_from(backup, backup_keys);
  ASSERT_FALSE(conflict);
  EXPECT_NE(conflict.error().message.find("root-ca"), std::string::npos);
  EXPECT_EQ(target->list()->size(), 1u) << "a refused import changes nothing";
  auto imported = target->import_from(backup, backup_keys, /*overwrite=*/true);
  ASSERT_TRUE(imported) << imported.error().message;
  EXPECT_EQ(imported->added, 1);
  EXPECT_EQ(imported->replaced, 1);
  EXPECT_EQ((*target->current(kUser))->view(), kPinA);
  EXPECT_EQ((*target->current({"", "root-ca"}))->view(), kSoPin);
  auto again = target->import_from(backup, backup_keys);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->unchanged, 2);
  FixedKeySource wrong(KeyMode::kPassphrase, S(kOtherPassphrase));
  auto wrong_import = target->import_from(backup, wrong);
  ASSERT_FALSE(wrong_import);
  EXPECT_NE(wrong_import.error().message.find("wrong passphrase"), std::string::npos);
}

TEST_F(StoreEncrypted, JournalPersistsAndCloses) {
  ASSERT_TRUE(create());
  std::string id;
  {
    auto store = reopen();
    ASSERT_TRUE(store);
    auto begun = store->journal_begin("pico:E6614C311B4A2B21", "change so-pin, 1 in place");
    ASSERT_TRUE(begun);
    id = *begun;
    ASSERT_TRUE(store->journal_step(id, "change so-pin", JournalState::kIntent, kSo.id()));
    ASSERT_TRUE(store->journal_step(id, "change so-pin", JournalState::kSending));
  }
  auto store = reopen();
  ASSERT_TRUE(store);
  auto open = store->open_journals();
  ASSERT_TRUE(open);
  ASSERT_EQ(open->size(), 1u);
  const Journal& j = (*open)[0];
  EXPECT_EQ(j.id, id);
  EXPECT_EQ(j.device, "pico:E6614C311B4A2B21");
  ASSERT_EQ(j.steps.size(), 1u);
  EXPECT_EQ(j.steps[0].state, JournalState::kSending);
  EXPECT_EQ(j.last_state_for(kSo.id()), JournalState::kSending);
  EXPECT_FALSE(j.last_state_for(kUser.id()).has_value());
  ASSERT_TRUE(store->journal_end(id, "interrupted and resumed"));
  EXPECT_TRUE(store->open_journals()->empty());
  EXPECT_FALSE(store->journal_step(id, "late", JournalState::kSucceeded));
  EXPECT_FALSE(store->journal_step("0000", "x", JournalState::kIntent));
  for (int i = 0; i < 25; ++i) {
    auto extra = store->journal_begin("d", "s");
    ASSERT_TRUE(extra);
    ASSERT_TRUE(store->journal_end(*extra));
  }
  EXPECT_EQ(store->journals()->size(), EncryptedStore::kKeptClosedJournals);
}

}  // namespace
}  // namespace hsmctl::store
