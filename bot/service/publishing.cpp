#include "bot/service/publishing.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <openssl/evp.h>

#include "bot/io/log.hpp"
#include "bot/io/periodic.hpp"
#include "bot/io/random.hpp"

namespace aula {

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}


// A private temporary folder, removed with the object.
struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("aula-bundle-" + random_hex(8));
    fs::create_directories(path);
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::replace);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

bool bundle_file_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name.find('\\') == std::string::npos &&
         name != "." && name != ".." && name.front() != '.';
}

// Does this learner's state refer to anything `flows` no longer has where they wait?
bool stranded(const flow_set& flows, const session& s) {
  auto check = [&](const run_state& r, bool must_wait) {
    const flow* f = flows.find(r.flow);
    if (!f) return true;
    const node* n = f->find(r.node);
    return !n || (must_wait && !n->waits());
  };
  if (s.run && check(*s.run, true)) return true;
  for (const auto& r : s.stack)
    if (check(r, false)) return true;
  return false;
}

}  // namespace

std::string flow_bundle::hash() const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (const auto& [name, text] : files) {
    // Length-prefixed, so no two different bundles hash alike by concatenation.
    const std::string head = std::to_string(name.size()) + ":" + name + std::to_string(text.size()) + ":";
    EVP_DigestUpdate(ctx, head.data(), head.size());
    EVP_DigestUpdate(ctx, text.data(), text.size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return to_hex(md, len);
}

std::string flow_bundle::dump() const { return nlohmann::json{{"files", files}}.dump(); }

flow_bundle flow_bundle::parse(const std::string& json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object() || !j.contains("files") || !j["files"].is_object())
    throw std::runtime_error("a published bundle must be {\"files\": {name: text}}");
  flow_bundle b;
  for (auto it = j["files"].begin(); it != j["files"].end(); ++it) {
    if (!bundle_file_name(it.key()) || !it.value().is_string())
      throw std::runtime_error("bad file in a published bundle: " + it.key());
    b.files[it.key()] = it.value().get<std::string>();
  }
  return b;
}

flow_bundle read_bundle(const std::string& dir) {
  flow_bundle b;
  for (const auto& file : flow_files_in(dir)) b.files[fs::path(file).filename().string()] = read_file(file);
  for (const char* extra : {"course.yaml", "triggers.yaml"}) {
    fs::path p = fs::path(dir) / extra;
    if (fs::exists(p)) b.files[extra] = read_file(p);
  }
  return b;
}

flow_bundle with_drafts(flow_bundle published, const std::string& drafts_dir) {
  if (!fs::is_directory(drafts_dir)) return published;
  flow_bundle drafts = read_bundle(drafts_dir);
  for (auto& [name, text] : drafts.files) published.files[name] = std::move(text);
  return published;
}

load_result load_bundle(const flow_bundle& b) {
  temp_dir tmp;
  for (const auto& [name, text] : b.files) {
    if (!bundle_file_name(name)) continue;
    std::ofstream out(tmp.path / name, std::ios::binary);
    out << text;
  }
  load_result r = load_flows({tmp.path.string()});
  // Name the files as the bundle does, not by the temporary folder.
  const std::string prefix = tmp.path.string() + "/";
  diagnostics renamed;
  for (auto d : r.diags.items()) {
    if (d.pos.file.starts_with(prefix)) d.pos.file = d.pos.file.substr(prefix.size());
    if (d.severity == diagnostic::level::error) renamed.error(d.pos, d.message, d.hint);
    else renamed.warning(d.pos, d.message, d.hint);
  }
  r.diags = renamed;
  return r;
}

std::vector<std::string> error_lines(const diagnostics& d) {
  std::vector<std::string> out;
  for (const auto& x : d.items())
    if (x.severity == diagnostic::level::error) out.push_back(format(x));
  return out;
}

nlohmann::json publish_report::to_json() const {
  nlohmann::json j = {{"ok", ok}};
  if (!ok) {
    j["errors"] = errors;
    return j;
  }
  j["version"] = version.version;
  j["hash"] = version.hash;
  j["changed"] = changed;
  j["learners"] = learners;
  j["moved"] = moved;
  return j;
}

publisher::publisher(net::any_io_executor ex, service& svc, publisher_options opts)
    : ex_(std::move(ex)), svc_(svc), opts_(std::move(opts)) {
  svc_.set_resolver([this](const std::string& conv, const session& s) { return flows_for(conv, s); });
}

int publisher::current_version() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::map<std::string, int> publisher::pins() const {
  std::lock_guard lock(mu_);
  return pins_;
}

net::awaitable<publish_report> publisher::publish_from_disk(const std::string& note) {
  publish_report rep;
  flow_bundle b = read_bundle(opts_.flows_dir);
  load_result loaded = load_bundle(b);
  if (!loaded.ok() || b.files.empty()) {
    rep.errors = error_lines(loaded.diags);
    // Name the folder's files as an administrator sees them.
    for (auto& e : rep.errors) e = (fs::path(opts_.flows_dir) / e).string();
    if (b.files.empty()) rep.errors.push_back(opts_.flows_dir + ": no flow files (nothing published)");
    co_return rep;
  }
  const std::string hash = b.hash();
  publication_info info = co_await svc_.backing_store().publish(hash, b.dump(), note, svc_.clock().now_ms());
  rep.ok = true;
  rep.version = info;
  rep.changed = info.created;
  auto flows = std::make_shared<const flow_set>(std::move(loaded.flows));
  std::shared_ptr<const flow_set> before = svc_.flows();
  {
    std::lock_guard lock(mu_);
    versions_[info.version] = flows;
    svc_.name_version(flows.get(), info.version);
    current_ = info.version;
  }
  svc_.publish(flows);
  if (info.created) {
    log::info("flows published", {{"version", info.version}, {"hash", hash.substr(0, 12)}, {"by", note}});
    rep = co_await migrate_learners(std::move(rep));
  }
  co_return rep;
}

net::awaitable<bool> publisher::refresh() {
  auto& st = svc_.backing_store();
  publication_info cur = co_await st.current_publication();
  auto pins = co_await st.pins();
  {
    std::lock_guard lock(mu_);
    pins_ = pins;
  }
  if (cur.version == 0) co_return false;
  if (cur.version == current_version()) co_return true;
  auto flows = co_await version(cur.version);
  if (!flows) co_return false;
  {
    std::lock_guard lock(mu_);
    current_ = cur.version;
  }
  svc_.publish(flows);
  log::info("following published flows", {{"version", cur.version}, {"hash", cur.hash.substr(0, 12)}});
  co_return true;
}

void publisher::start() {
  running_ = run_every(
      ex_, opts_.poll, [this]() -> net::awaitable<void> { co_await refresh(); }, "cannot check for published flows");
}

void publisher::stop() {
  if (running_) *running_ = false;
}

net::awaitable<std::shared_ptr<const flow_set>> publisher::version(int v) {
  {
    std::lock_guard lock(mu_);
    if (auto it = versions_.find(v); it != versions_.end()) co_return it->second;
  }
  auto text = co_await svc_.backing_store().publication_bundle(v);
  if (!text) co_return nullptr;
  load_result loaded = load_bundle(flow_bundle::parse(*text));
  if (!loaded.ok()) {
    log::error("a published version does not load", {{"version", v}});
    co_return nullptr;
  }
  auto flows = std::make_shared<const flow_set>(std::move(loaded.flows));
  std::lock_guard lock(mu_);
  versions_[v] = flows;
  svc_.name_version(flows.get(), v);
  co_return flows;
}

net::awaitable<std::shared_ptr<const flow_set>> publisher::preview(const std::string& learner) {
  {
    std::lock_guard lock(mu_);
    if (auto it = previews_.find(learner); it != previews_.end()) co_return it->second;
  }
  auto text = co_await svc_.backing_store().dir_get("preview:" + learner);
  if (!text) co_return nullptr;
  load_result loaded = load_bundle(flow_bundle::parse(*text));
  if (!loaded.ok()) co_return nullptr;
  auto flows = std::make_shared<const flow_set>(std::move(loaded.flows));
  std::lock_guard lock(mu_);
  if (previews_.size() > 100) previews_.clear();  // a small cache; the store keeps the truth
  previews_[learner] = flows;
  co_return flows;
}

net::awaitable<std::shared_ptr<const flow_set>> publisher::flows_for(const std::string& conversation,
                                                                     const session& s) {
  if (is_preview_conversation(conversation)) {
    auto p = co_await preview(conversation.substr(4));
    if (p) co_return p;
    // An unknown or expired preview: the published flows, never a draft.
    co_return svc_.flows();
  }
  int pinned = 0;
  if (auto co = s.contact.find("cohort"); co != s.contact.end()) {
    std::lock_guard lock(mu_);
    if (auto it = pins_.find(co->second); it != pins_.end()) pinned = it->second;
  }
  if (pinned > 0 && pinned != current_version()) {
    if (auto v = co_await version(pinned)) co_return v;
    log::warn("a pinned version is not available; using the current one", {{"version", pinned}});
  }
  co_return svc_.flows();
}

net::awaitable<publish_report> publisher::migrate_learners(publish_report rep) {
  auto& st = svc_.backing_store();
  auto flows = svc_.flows();
  std::map<std::string, int> pins;
  {
    std::lock_guard lock(mu_);
    pins = pins_;
  }
  for (int p = 0; p < st.partitions(); ++p) {
    auto convs = co_await st.conversations(p);
    for (const auto& conv : convs) {
      if (is_preview_conversation(conv)) continue;
      loaded_session ls = co_await st.load(conv);
      if (!ls.exists) continue;
      ++rep.learners;
      if (!ls.s.run && ls.s.stack.empty()) continue;
      if (auto co = ls.s.contact.find("cohort"); co != ls.s.contact.end() && pins.count(co->second)) {
        rep.moved["pinned"] += 1;
        continue;
      }
      if (!stranded(*flows, ls.s)) {
        // Their flow may have changed, but the node they wait at is still there.
        rep.moved["continued"] += 1;
        continue;
      }
      const auto colon = conv.find(':');
      std::vector<nlohmann::json> records;
      inbound_event ev = inbound_event::of(inbound_event::kind::migrate);
      co_await svc_.deliver(conv.substr(0, colon), conv.substr(colon + 1), ev, {}, {}, {}, &records);
      bool counted = false;
      for (const auto& r : records) {
        if (r.value("type", "") != "migrated") continue;
        rep.moved[r.value("status", "moved")] += 1;
        counted = true;
      }
      if (!counted) rep.moved["continued"] += 1;
    }
  }
  log::info("learners after publishing", {{"version", rep.version.version}, {"moved", nlohmann::json(rep.moved).dump()}});
  co_return rep;
}

net::awaitable<std::pair<std::string, std::vector<std::string>>> publisher::start_preview(const std::string& flow_id) {
  auto& st = svc_.backing_store();
  flow_bundle published;
  const int v = current_version();
  if (v > 0) {
    if (auto text = co_await st.publication_bundle(v)) published = flow_bundle::parse(*text);
  } else {
    published = read_bundle(opts_.flows_dir);
  }
  flow_bundle b = with_drafts(std::move(published), (fs::path(opts_.flows_dir) / "drafts").string());
  load_result loaded = load_bundle(b);
  if (!loaded.ok()) co_return std::pair<std::string, std::vector<std::string>>{{}, error_lines(loaded.diags)};
  if (!loaded.flows.find(flow_id)) {
    std::vector<std::string> errs = {"no flow '" + flow_id + "' among the published flows and drafts"};
    co_return std::pair<std::string, std::vector<std::string>>{{}, errs};
  }
  const std::string learner = "preview-" + random_hex(16);
  co_await st.dir_set("preview:" + learner, b.dump(), std::chrono::hours(24));
  inbound_event ev = inbound_event::start(flow_id);
  co_await svc_.deliver("web", learner, ev);
  co_return std::pair<std::string, std::vector<std::string>>{learner, {}};
}

}  // namespace aula
