// aula backup --output DIR / aula restore DIR [--force]: a snapshot of aula's Redis keys
// (bot/store/redis_snapshot.hpp) and a copy of the record store (bot/records/backup.hpp), in
// one folder with a manifest (scripts/deploy/README.md, "Backups").
//
// The record store is copied after the Redis snapshot: results drained in between are then in
// both, and the drain is idempotent, so nothing committed before the snapshot is missing from
// the pair.
#include <sys/stat.h>

#include <openssl/evp.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "bot/cli/commands.hpp"
#include "bot/io/log.hpp"
#include "bot/records/backup.hpp"
#include "bot/records/record_store.hpp"
#include "bot/store/redis_snapshot.hpp"
#include "bot/store/store.hpp"

namespace aula::cli {

namespace {

namespace fs = std::filesystem;

struct backup_options {
  std::string output;
};
struct restore_options {
  std::string dir;
  bool force = false;
};

std::string sha256_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  std::ostringstream o;
  for (unsigned i = 0; i < len; ++i) o << std::hex << std::setw(2) << std::setfill('0') << static_cast<int>(md[i]);
  return o.str();
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

redis_snapshot_options snapshot_options(const app_config& cfg) {
  redis_snapshot_options so;
  so.url = cfg.redis.url;
  so.prefix = store_keys{}.prefix;
  so.timeout = std::max(cfg.redis.command_timeout, std::chrono::milliseconds(30000));
  return so;
}

int run_backup(const backup_options& o) {
  app_config cfg;
  if (!load_command_config("backup", cfg)) return 2;
  const fs::path dir(o.output);
  std::error_code ec;
  if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec))) {
    std::cerr << "aula backup: " << dir.string() << " exists and is not an empty folder (a backup never overwrites one)\n";
    return 2;
  }
  fs::create_directories(dir, ec);
  if (ec) {
    std::cerr << "aula backup: cannot create " << dir.string() << ": " << ec.message() << "\n";
    return 1;
  }
  ::chmod(dir.c_str(), 0700);  // learners' data: the operator's eyes only
  nlohmann::json manifest = {{"format", 1}, {"aula_version", aula_version}, {"created_at", utc_now()}};

  // 1. Redis.
  try {
    const fs::path file = dir / "redis.bin";
    const auto w = redis_snapshot_write(snapshot_options(cfg), file);
    nlohmann::json part = {{"file", "redis.bin"}, {"keys", w.keys}, {"sha256", sha256_file(file)},
                           {"bytes", fs::file_size(file)}, {"url", mask_url(cfg.redis.url)}};
    part["partitions"] = w.partitions.empty() ? nlohmann::json(nullptr) : nlohmann::json(std::stoi(w.partitions));
    manifest["redis"] = part;
    std::cout << "redis: " << w.keys << " keys of " << mask_url(cfg.redis.url) << " ("
              << (w.partitions.empty() ? std::string("no aula data yet") : w.partitions + " partitions") << "; "
              << w.leases << " leases left out" << (w.gone ? "; " + std::to_string(w.gone) + " deleted meanwhile" : std::string{})
              << ") -> " << file.string() << " (" << fs::file_size(file) << " bytes)\n";
  } catch (const std::exception& e) {
    std::cerr << "aula backup: " << log::redact(e.what()) << "\n";
    return 1;
  }

  // 2. The record store.
  try {
    const bool missing_sqlite = cfg.records_url.starts_with("sqlite://") && !fs::exists(cfg.records_url.substr(9));
    if (missing_sqlite) {
      std::cout << "records: " << cfg.records_url.substr(9) << " does not exist yet (nothing drained): not in the backup\n";
    } else {
      nlohmann::json part = records::backup_record_store(cfg.records_url, dir);
      part["sha256"] = sha256_file(dir / part["file"].get<std::string>());
      manifest["records"] = part;
      std::cout << "records: " << part["backend"].get<std::string>() << " " << records::redact_url(cfg.records_url)
                << ", schema " << part["schema_version"] << ", rows " << part["rows"].dump() << " -> "
                << (dir / part["file"].get<std::string>()).string() << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "aula backup: the record store: " << log::redact(e.what()) << "\n";
    return 1;
  }

  // 3. The manifest, last: a folder without one is an unfinished backup.
  {
    std::ofstream m(dir / "manifest.json", std::ios::trunc);
    m << manifest.dump(2) << "\n";
    if (!m) {
      std::cerr << "aula backup: cannot write the manifest\n";
      return 1;
    }
  }
  std::cout << "backup complete: " << dir.string() << " (manifest.json; aula " << aula_version << ", "
            << manifest["created_at"].get<std::string>() << ")\n";
  return 0;
}

int run_restore(const restore_options& o) {
  app_config cfg;
  if (!load_command_config("restore", cfg)) return 2;
  const fs::path dir(o.dir);
  nlohmann::json manifest;
  {
    std::ifstream m(dir / "manifest.json");
    if (!m) {
      std::cerr << "aula restore: " << (dir / "manifest.json").string()
                << " not found (not a backup folder, or an unfinished backup)\n";
      return 2;
    }
    manifest = nlohmann::json::parse(m, nullptr, false);
  }
  if (!manifest.is_object() || manifest.value("format", 0) != 1 || !manifest.contains("redis")) {
    std::cerr << "aula restore: the manifest is not one aula understands (format 1)\n";
    return 2;
  }
  const nlohmann::json& rpart = manifest["redis"];
  // Integrity first: nothing is touched when a file is damaged.
  for (const char* part : {"redis", "records"}) {
    if (!manifest.contains(part)) continue;
    const auto file = dir / manifest[part].value("file", std::string{});
    std::error_code ec;
    if (!fs::is_regular_file(file, ec) || sha256_file(file) != manifest[part].value("sha256", std::string{})) {
      std::cerr << "aula restore: " << file.string() << " is missing or does not match its sha256 in the manifest\n";
      return 1;
    }
  }
  // The partition count places every key: it must be the configured one.
  if (rpart.contains("partitions") && rpart["partitions"].is_number_integer() &&
      rpart["partitions"].get<int>() != cfg.redis.partitions) {
    std::cerr << "aula restore: the backup was made with " << rpart["partitions"].get<int>()
              << " partitions, but this aula is configured with " << cfg.redis.partitions
              << " (redis.partitions in config/aula.yaml): set it to " << rpart["partitions"].get<int>()
              << " first; nothing was changed\n";
    return 1;
  }
  std::size_t existing_rows = 0;
  if (manifest.contains("records")) {
    try {
      existing_rows = records::record_store_rows(cfg.records_url);
    } catch (const std::exception& e) {
      std::cerr << "aula restore: the record store: " << log::redact(e.what()) << "\n";
      return 1;
    }
  }
  try {
    const auto so = snapshot_options(cfg);
    const auto keys = redis_snapshot_keys(so);
    if ((!keys.empty() || existing_rows > 0) && !o.force) {
      std::cerr << "aula restore: the target is not empty: " << keys.size() << " aula keys in "
                << mask_url(cfg.redis.url) << ", " << existing_rows << " rows in the record store "
                << records::redact_url(cfg.records_url)
                << ". Stop aula, and pass --force to replace them with the backup; nothing was changed\n";
      return 1;
    }
    if (!keys.empty())
      std::cout << "redis: removed " << redis_snapshot_clear(so) << " aula keys that were there (--force)\n";
    const std::size_t restored = redis_snapshot_restore(so, dir / rpart.value("file", std::string("redis.bin")));
    const std::size_t expected = rpart.value("keys", std::size_t{0});
    if (restored != expected)
      throw std::runtime_error("redis.bin holds " + std::to_string(restored) + " keys, the manifest says " +
                               std::to_string(expected));
    std::cout << "redis: restored " << restored << " keys into " << mask_url(cfg.redis.url) << " (backup of "
              << manifest.value("created_at", std::string{}) << ", aula " << manifest.value("aula_version", std::string{})
              << ", " << rpart.value("partitions", nlohmann::json(nullptr)).dump() << " partitions)\n";
  } catch (const std::exception& e) {
    std::cerr << "aula restore: " << log::redact(e.what()) << "\n";
    return 1;
  }
  if (manifest.contains("records")) {
    try {
      auto done = records::restore_record_store(cfg.records_url, dir, manifest["records"]);
      std::cout << "records: restored " << manifest["records"].value("file", std::string{}) << " into "
                << done["backend"].get<std::string>() << " " << records::redact_url(cfg.records_url) << ", schema "
                << done["schema_version"] << ", rows " << done["rows"].dump() << "\n";
    } catch (const std::exception& e) {
      std::cerr << "aula restore: the record store: " << log::redact(e.what()) << "\n";
      return 1;
    }
  } else {
    std::cout << "records: the backup holds no record store; " << records::redact_url(cfg.records_url)
              << " was left as it is\n";
  }
  std::cout << "restore complete: start aula (learners continue where the backup left them)\n";
  return 0;
}

}  // namespace

void add_backup(CLI::App& app, int& exit_code) {
  auto* b = app.add_subcommand("backup", "Write a backup folder: a snapshot of aula's Redis keys and the record store");
  auto bo = std::make_shared<backup_options>();
  b->add_option("--output,-o", bo->output, "The folder to write (new or empty)")->required();
  b->callback([bo, &exit_code] { exit_code = run_backup(*bo); });

  auto* r = app.add_subcommand("restore", "Restore a backup folder into the configured Redis and record store");
  auto ro = std::make_shared<restore_options>();
  r->add_option("dir", ro->dir, "The backup folder (with manifest.json)")->required();
  r->add_flag("--force,--yes", ro->force, "Replace what the target Redis and record store hold");
  r->callback([ro, &exit_code] { exit_code = run_restore(*ro); });
}

}  // namespace aula::cli
