// Publishing flows: the files of a flows folder (flows, course.yaml, triggers.yaml) as one
// bundle with a content hash, validated whole before anything changes, kept in Redis as
// numbered versions that every instance follows; cohorts pinned to a version; learners
// stranded by a new version moved by the engine's migration (counted per rule); drafts
// previewed in the web chat on top of the published version.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bot/authoring/loader.hpp"
#include "bot/io/net.hpp"
#include "bot/service/service.hpp"

namespace aula {

// Every file that makes a version: name (relative to the flows folder) -> text.
struct flow_bundle {
  std::map<std::string, std::string> files;

  std::string hash() const;  // sha256 (hex) over names and texts
  std::string dump() const;  // JSON {"files": {name: text}}
  static flow_bundle parse(const std::string& json);  // throws std::runtime_error
};

// The flow files, course.yaml and triggers.yaml of folder `dir` (not its sub-folders).
flow_bundle read_bundle(const std::string& dir);
// The bundle with the flow files of `drafts_dir` laid over it (same file name replaces).
flow_bundle with_drafts(flow_bundle published, const std::string& drafts_dir);
// Loads and validates a bundle as load_flows would the folder (diagnostics name the files).
load_result load_bundle(const flow_bundle& b);

struct publish_report {
  bool ok = false;
  std::vector<std::string> errors;  // "file:line:col: message (hint)" when !ok
  publication_info version;         // the version now current (when ok)
  bool changed = false;             // a new version was made
  // Learners moved by the migration: rule ("migrate", "fallback", "start", "reentered",
  // "flow removed") -> count; plus "continued" (their node still exists) and "pinned"
  // (their cohort stays on its version).
  std::map<std::string, long> moved;
  long learners = 0;                // sessions looked at
  nlohmann::json to_json() const;
};

struct publisher_options {
  std::string flows_dir = "flows";
  std::chrono::milliseconds poll{1000};  // how often an instance checks for a new version
};

// One per instance. Holds the published versions this instance has loaded, follows the
// current one, and answers which flows a learner's step runs on.
class publisher {
 public:
  publisher(net::any_io_executor ex, service& svc, publisher_options opts);

  // Validates the flows folder; on success publishes it (a new version when its hash is new)
  // and moves stranded learners. On any error nothing changes. `note`: who asked.
  net::awaitable<publish_report> publish_from_disk(const std::string& note);
  // Makes the current published version (and the pins) this instance's. Returns false when
  // nothing is published yet.
  net::awaitable<bool> refresh();
  // Follows publications made by other instances until stop().
  void start();
  void stop();

  // Moves the learners a version change strands (the engine migrates them; pinned cohorts
  // are left alone). Counts per rule.
  net::awaitable<publish_report> migrate_learners(publish_report report);

  // Draft previews: validates the drafts folder over the current version and registers a web
  // chat learner ("preview-<32 hex>") who runs `flow` on it. Results of preview learners are
  // never recorded. Returns the learner id, or the errors.
  net::awaitable<std::pair<std::string, std::vector<std::string>>> start_preview(const std::string& flow);

  int current_version() const;
  std::map<std::string, int> pins() const;

 private:
  net::awaitable<std::shared_ptr<const flow_set>> version(int v);
  net::awaitable<std::shared_ptr<const flow_set>> preview(const std::string& learner);
  net::awaitable<std::shared_ptr<const flow_set>> flows_for(const std::string& conversation, const session& s);

  net::any_io_executor ex_;
  service& svc_;
  publisher_options opts_;
  mutable std::mutex mu_;
  int current_ = 0;
  std::map<int, std::shared_ptr<const flow_set>> versions_;
  std::map<std::string, std::shared_ptr<const flow_set>> previews_;
  std::map<std::string, int> pins_;
  std::shared_ptr<bool> running_;
};

std::vector<std::string> error_lines(const diagnostics& d);

}  // namespace aula
