// Data rights and retention in the record store: erasing a learner (their records kept
// anonymized, so reports still add up) and the retention job's cut-offs (typed words blanked,
// delivery and staff records deleted). Written once in SQL both backends accept.
#include <set>

#include "bot/records/record_store.hpp"
#include "bot/records/sql.hpp"

namespace aula::records {

using detail::sql_params;
using detail::sql_value;

namespace {

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

bool typed_by_learner(const std::string& type) {
  return type == "answer" || type == "quiz" || type == "invalid" || type == "inbound";
}

// Whether the record's value is what the learner typed (not a choice, number or score).
bool value_is_free_text(const nlohmann::json& r) {
  const std::string type = r.value("type", std::string{});
  if (type == "invalid" || type == "inbound") return true;
  auto it = r.find("free_text");
  return type == "answer" && it != r.end() && it->is_boolean() && it->get<bool>();
}

constexpr const char* delivery_types = "('sent', 'delivery', 'dead_letter', 'reengagement')";
constexpr std::int64_t batch = 500;

}  // namespace

bool strip_free_text(nlohmann::json& r) {
  if (!r.is_object() || !typed_by_learner(r.value("type", std::string{}))) return false;
  bool changed = r.erase("text") > 0;
  if (value_is_free_text(r)) changed = r.erase("value") > 0 || changed;
  return changed;
}

nlohmann::json anonymized_record(const nlohmann::json& record, const std::string& anon) {
  nlohmann::json r = record;
  if (!r.is_object()) return r;
  if (value_is_free_text(r)) r.erase("value");
  for (const char* k : {"text", "external_id", "name", "error"}) r.erase(k);
  // A merged "sent" record's messages: each keeps its node, segments and time, not its id.
  if (auto parts = r.find("parts"); parts != r.end() && parts->is_array())
    for (auto& part : *parts)
      if (part.is_object()) part.erase("external_id");
  // The channel column came from the conversation: it stays for the delivery report.
  if (!r.contains("channel") && r.contains("conv") && r["conv"].is_string()) {
    const std::string conv = r["conv"].get<std::string>();
    r["channel"] = conv.substr(0, conv.find(':'));
  }
  r["conv"] = anon;
  r["erased"] = true;
  return r;
}

nlohmann::json record_store::erase_learner(const std::string& conv, const std::string& anon,
                                           std::optional<std::int64_t> up_to_ms) {
  if (conv.empty() || conv.find(':') == std::string::npos || anon.empty() || anon.find(':') == std::string::npos)
    throw std::invalid_argument("record store: erase_learner needs two conversations (\"<channel>:<address>\")");
  auto& db = *db_;
  std::size_t records = 0, learners = 0, cohorts = 0, staff = 0;
  detail::transaction tx(db);
  sql_params p{conv};
  std::string sql = "SELECT seq, id, data FROM records WHERE conv = ?";
  if (up_to_ms) {
    sql += " AND at <= ?";
    p.push_back(*up_to_ms);
  }
  for (const auto& row : db.query(sql, p)) {
    const std::int64_t seq = row.i(0);
    const std::string id = row.s(1);
    ++records;
    if (!db.query("SELECT 1 FROM records WHERE conv = ? AND id = ?", {anon, id}).empty()) {
      db.exec("DELETE FROM record_items WHERE conv = ? AND id = ?", {conv, id});
      db.exec("DELETE FROM records WHERE seq = ?", {seq});
      continue;
    }
    auto data = nlohmann::json::parse(row.s(2), nullptr, false);
    if (!data.is_object()) data = nlohmann::json::object({{"id", id}});
    const bool free_value = value_is_free_text(data);
    const nlohmann::json kept = anonymized_record(data, anon);
    if (free_value) {
      db.exec("UPDATE records SET conv = ?, text = NULL, value = NULL, num = NULL, data = ? WHERE seq = ?",
              {anon, dump(kept), seq});
      db.exec("DELETE FROM record_items WHERE conv = ? AND id = ?", {conv, id});
    } else {
      db.exec("UPDATE records SET conv = ?, text = NULL, data = ? WHERE seq = ?", {anon, dump(kept), seq});
      db.exec("UPDATE record_items SET conv = ? WHERE conv = ? AND id = ?", {anon, conv, id});
    }
  }
  if (!up_to_ms) {
    auto rows = db.query("SELECT state, role, language, channel, status, enrolled_at, data FROM learners WHERE conv = ?",
                         {conv});
    if (!rows.empty()) {
      const auto& row = rows[0];
      auto old = nlohmann::json::parse(row.s(6), nullptr, false);
      nlohmann::json kept = nlohmann::json::object();
      for (const char* k : {"state", "role", "language", "channel", "status", "enrolled_at", "cohorts", "courses"})
        if (old.is_object() && old.contains(k)) kept[k] = old[k];
      kept["erased"] = true;
      auto nullable = [&](std::size_t k) { return row.null(k) ? sql_value(nullptr) : sql_value(row.s(k)); };
      learners += db.exec(
          "INSERT INTO learners (conv, name, state, role, language, channel, status, enrolled_at, data, updated_at) "
          "VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conv) DO NOTHING",
          {anon, nullable(0), nullable(1), nullable(2), nullable(3), nullable(4),
           row.null(5) ? sql_value(nullptr) : sql_value(row.i(5)), dump(kept), std::int64_t{0}});
      db.exec("DELETE FROM learners WHERE conv = ?", {conv});
    }
    db.exec("INSERT INTO cohort_members (cohort, conv) SELECT cohort, ? FROM cohort_members WHERE conv = ? "
            "ON CONFLICT (cohort, conv) DO NOTHING",
            {anon, conv});
    cohorts = db.exec("DELETE FROM cohort_members WHERE conv = ?", {conv});
  }
  // What staff did to the learner (enrol, reset, export…) names them in its target.
  for (const auto& row : db.query("SELECT seq, data FROM records WHERE type = 'admin' AND text = ?", {conv})) {
    auto data = nlohmann::json::parse(row.s(1), nullptr, false);
    if (!data.is_object()) data = nlohmann::json::object();
    data["text"] = anon;
    data["target"] = anon;
    db.exec("UPDATE records SET text = ?, data = ? WHERE seq = ?", {anon, dump(data), row.i(0)});
    ++staff;
  }
  tx.commit();
  return {{"records", records}, {"learners", learners}, {"cohorts", cohorts}, {"staff", staff}};
}

nlohmann::json record_store::apply_retention(const retention_cutoffs& cut) {
  auto& db = *db_;
  std::size_t free_text = 0, delivery = 0, audit = 0;
  if (cut.free_text) {
    // In batches, each its own transaction: a large first run does not hold the write lock long.
    for (;;) {
      auto rows = db.query(
          "SELECT seq, conv, id, data FROM records WHERE at < ? AND text IS NOT NULL AND type IN "
          "('answer', 'quiz', 'invalid', 'inbound') ORDER BY seq LIMIT ?",
          {*cut.free_text, batch});
      if (rows.empty()) break;
      detail::transaction tx(db);
      for (const auto& row : rows) {
        auto data = nlohmann::json::parse(row.s(3), nullptr, false);
        if (!data.is_object()) data = nlohmann::json::object({{"id", row.s(2)}});
        const bool free_value = value_is_free_text(data);
        strip_free_text(data);
        if (free_value) {
          db.exec("UPDATE records SET text = NULL, value = NULL, num = NULL, data = ? WHERE seq = ?",
                  {dump(data), row.i(0)});
          db.exec("DELETE FROM record_items WHERE conv = ? AND id = ?", {row.s(1), row.s(2)});
        } else {
          db.exec("UPDATE records SET text = NULL, data = ? WHERE seq = ?", {dump(data), row.i(0)});
        }
        ++free_text;
      }
      tx.commit();
      if (static_cast<std::int64_t>(rows.size()) < batch) break;
    }
  }
  auto remove = [&](const std::string& types, std::int64_t before) {
    detail::transaction tx(db);
    db.exec("DELETE FROM record_items WHERE EXISTS (SELECT 1 FROM records r WHERE r.conv = record_items.conv AND "
            "r.id = record_items.id AND r.at < ? AND r.type IN " + types + ")",
            {before});
    const std::size_t n = db.exec("DELETE FROM records WHERE at < ? AND type IN " + types, {before});
    tx.commit();
    return n;
  };
  if (cut.delivery) delivery = remove(delivery_types, *cut.delivery);
  if (cut.audit) audit = remove("('admin')", *cut.audit);
  return {{"free_text", free_text}, {"delivery", delivery}, {"audit", audit}};
}

}  // namespace aula::records
