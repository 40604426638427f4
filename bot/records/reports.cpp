// The reports of record_store.hpp: SQL both SQLite and PostgreSQL run as written (window
// functions, CTEs, ON CONFLICT; no JSON functions, no string aggregation), shaped into JSON
// here. Sorting of names and values is done here too, byte-wise, so both databases (whose
// collations differ) give the same order.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "bot/records/record_store.hpp"
#include "bot/records/sql.hpp"

namespace aula::records {

using detail::sql_params;
using detail::sql_row;
using json = nlohmann::json;

namespace {

std::string marks(std::size_t n) {
  std::string s;
  for (std::size_t k = 0; k < n; ++k) s += k ? ", ?" : "?";
  return s;
}

// Conditions on who the learner is; `conv` is the SQL expression of the conversation.
std::string learner_conditions(const std::string& conv, const report_filter& f, sql_params& p) {
  std::string sql;
  if (!f.cohorts.empty()) {
    sql += " AND " + conv + " IN (SELECT conv FROM cohort_members WHERE cohort IN (" + marks(f.cohorts.size()) + "))";
    p.insert(p.end(), f.cohorts.begin(), f.cohorts.end());
  }
  if (!f.states.empty()) {
    sql += " AND " + conv + " IN (SELECT conv FROM learners WHERE state IN (" + marks(f.states.size()) + "))";
    p.insert(p.end(), f.states.begin(), f.states.end());
  }
  return sql;
}

// Conditions on a record (table alias `r`): its time and its learner.
std::string record_conditions(const std::string& r, const report_filter& f, sql_params& p) {
  std::string sql;
  if (f.from_ms) {
    sql += " AND " + r + ".at >= ?";
    p.emplace_back(*f.from_ms);
  }
  if (f.to_ms) {
    sql += " AND " + r + ".at < ?";
    p.emplace_back(*f.to_ms);
  }
  return sql + learner_conditions(r + ".conv", f, p);
}

// With a cohort filter, a per-cohort breakdown shows those cohorts only (a learner of the
// filtered cohort who is also in another would otherwise bring that one in, half counted).
std::string cohort_join_condition(const std::string& cm, const report_filter& f, sql_params& p) {
  if (f.cohorts.empty()) return {};
  p.insert(p.end(), f.cohorts.begin(), f.cohorts.end());
  return " AND " + cm + ".cohort IN (" + marks(f.cohorts.size()) + ")";
}

json nullable_int(const sql_row& row, std::size_t k) { return row.null(k) ? json() : json(row.i(k)); }
json nullable_text(const sql_row& row, std::size_t k) { return row.null(k) ? json() : json(row.s(k)); }

// 5.0 -> 5: numeric answers are mostly whole (scales, NPS).
json number_json(double x) {
  if (std::isfinite(x) && std::floor(x) == x && std::fabs(x) < 9007199254740992.0) return static_cast<std::int64_t>(x);
  return x;
}

// A chosen value: the number when the answer was numeric, else the option id or text.
json item_json(const sql_row& row, std::size_t item, std::size_t num) {
  return row.null(num) ? json(row.s(item)) : number_json(row.d(num));
}

double share(std::int64_t part, std::int64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// Highest count first, then the value (numbers before strings, each in its own order).
void sort_tally(json& list, const char* key = "value") {
  std::stable_sort(list.begin(), list.end(), [key](const json& a, const json& b) {
    if (a["count"] != b["count"]) return a["count"].get<std::int64_t>() > b["count"].get<std::int64_t>();
    return a[key] < b[key];
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// progress

json record_store::progress(const report_filter& f) {
  auto& db = *db_;
  struct learner_acc {
    json name, state;
    std::vector<std::string> cohorts;
    std::map<std::string, json> courses;  // course -> its object
    std::map<std::string, json> flows;    // flow -> latest end
  };
  std::map<std::string, learner_acc> learners;

  {
    sql_params p;
    const std::string sql = "SELECT conv, name, state FROM learners WHERE 1 = 1" + learner_conditions("conv", f, p);
    for (const auto& row : db.query(sql, p)) {
      auto& l = learners[row.s(0)];
      l.name = nullable_text(row, 1);
      l.state = nullable_text(row, 2);
    }
  }

  auto course_of = [&](const std::string& conv, const std::string& course) -> json& {
    json& c = learners[conv].courses[course];
    if (c.is_null())
      c = {{"course", course},  {"status", nullptr},        {"enrolled_at", nullptr},   {"ended_at", nullptr},
           {"score", nullptr},  {"max", nullptr},           {"modules_completed", 0},   {"modules_total", 0},
           {"completion", 0.0}, {"modules", json::array()}};
    return c;
  };

  // Each learner's standing in each course: the latest enrolled or course record.
  {
    sql_params p;
    std::string sql =
        "SELECT conv, course, type, status, points, max_points, at, enrolled_at FROM ("
        " SELECT r.conv, r.course, r.type, r.status, r.points, r.max_points, r.at,"
        "  MAX(CASE WHEN r.type = 'enrolled' THEN r.at END) OVER (PARTITION BY r.conv, r.course) AS enrolled_at,"
        "  ROW_NUMBER() OVER (PARTITION BY r.conv, r.course ORDER BY r.at DESC, r.seq DESC) AS rn"
        " FROM records r WHERE r.type IN ('enrolled', 'course') AND r.course IS NOT NULL";
    sql += record_conditions("r", f, p) + ") t WHERE rn = 1";
    for (const auto& row : db.query(sql, p)) {
      json& c = course_of(row.s(0), row.s(1));
      c["enrolled_at"] = nullable_int(row, 7);
      if (row.s(2) == "enrolled") {
        c["status"] = "active";
      } else {
        c["status"] = nullable_text(row, 3);
        c["score"] = nullable_int(row, 4);
        c["max"] = nullable_int(row, 5);
        c["ended_at"] = row.i(6);
      }
    }
  }

  // Each module's latest record since the learner's latest enrolment in its course.
  {
    sql_params p;
    std::string sql =
        "WITH e AS (SELECT r.conv, r.course, MAX(r.at) AS at FROM records r WHERE r.type = 'enrolled'";
    sql += record_conditions("r", f, p) + " GROUP BY r.conv, r.course) ";
    sql +=
        "SELECT conv, course, module, flow, status, points, max_points, attempt, at FROM ("
        " SELECT r.conv, r.course, r.module, r.flow, r.status, r.points, r.max_points, r.attempt, r.at,"
        "  ROW_NUMBER() OVER (PARTITION BY r.conv, r.course, r.module ORDER BY r.at DESC, r.seq DESC) AS rn"
        " FROM records r LEFT JOIN e ON e.conv = r.conv AND e.course = r.course"
        " WHERE r.type = 'module' AND r.course IS NOT NULL AND r.module IS NOT NULL AND (e.at IS NULL OR r.at >= e.at)";
    sql += record_conditions("r", f, p) + ") t WHERE rn = 1 ORDER BY module";
    for (const auto& row : db.query(sql, p)) {
      json& c = course_of(row.s(0), row.s(1));
      const std::string status = row.s(4);
      const bool ended = status != "started";
      json m = {{"module", row.i(2)},
                {"flow", nullable_text(row, 3)},
                {"status", status},
                {"score", ended ? nullable_int(row, 5) : json()},
                {"max", ended ? nullable_int(row, 6) : json()},
                {"percent", nullptr},
                {"attempt", nullable_int(row, 7)},
                {"at", row.i(8)}};
      if (ended && !row.null(6)) {
        const auto max = row.i(6);
        m["percent"] = max > 0 ? (100 * row.i(5) + max / 2) / max : 100;  // as the engine rounds
      }
      if (status == "completed") c["modules_completed"] = c["modules_completed"].get<int>() + 1;
      c["modules"].push_back(std::move(m));
    }
  }

  // How many modules a course has, as far as the store can tell.
  std::map<std::string, std::int64_t> totals;
  for (const auto& row :
       db.query("SELECT course, MAX(module) FROM records WHERE type = 'module' AND course IS NOT NULL GROUP BY course"))
    totals[row.s(0)] = row.i(1);

  // The latest end of each flow.
  {
    sql_params p;
    std::string sql =
        "SELECT conv, flow, status, points, max_points, at FROM ("
        " SELECT r.conv, r.flow, r.status, r.points, r.max_points, r.at,"
        "  ROW_NUMBER() OVER (PARTITION BY r.conv, r.flow ORDER BY r.at DESC, r.seq DESC) AS rn"
        " FROM records r WHERE r.type = 'end' AND r.flow IS NOT NULL";
    sql += record_conditions("r", f, p) + ") t WHERE rn = 1";
    for (const auto& row : db.query(sql, p))
      learners[row.s(0)].flows[row.s(1)] = {{"flow", row.s(1)},
                                            {"status", nullable_text(row, 2)},
                                            {"score", nullable_int(row, 3)},
                                            {"max", nullable_int(row, 4)},
                                            {"at", row.i(5)}};
  }

  {
    sql_params p;
    const std::string sql = "SELECT conv, cohort FROM cohort_members WHERE 1 = 1" + learner_conditions("conv", f, p);
    for (const auto& row : db.query(sql, p))
      if (auto it = learners.find(row.s(0)); it != learners.end()) it->second.cohorts.push_back(row.s(1));
  }

  json out = {{"learners", json::array()}, {"by_cohort", json::array()}, {"by_state", json::array()}};
  for (auto& [conv, l] : learners) {
    std::sort(l.cohorts.begin(), l.cohorts.end());
    json courses = json::array();
    for (auto& [course, c] : l.courses) {
      std::int64_t total = totals.count(course) ? totals[course] : 0;
      total = std::max<std::int64_t>(total, static_cast<std::int64_t>(c["modules"].size()));
      c["modules_total"] = total;
      c["completion"] = share(c["modules_completed"].get<std::int64_t>(), total);
      courses.push_back(std::move(c));
    }
    json flows = json::array();
    for (auto& [flow, e] : l.flows) flows.push_back(std::move(e));
    out["learners"].push_back({{"conv", conv},
                               {"name", l.name},
                               {"state", l.state},
                               {"cohorts", l.cohorts},
                               {"courses", std::move(courses)},
                               {"flows", std::move(flows)}});
  }

  // Learners and completions per cohort and per state, from each learner's course standing.
  auto breakdown = [&](const char* key, const std::string& group_sql, const std::string& join_sql, bool cohort) {
    sql_params p;
    std::string sql =
        "WITH latest AS (SELECT r.conv, r.course, r.type, r.status,"
        " ROW_NUMBER() OVER (PARTITION BY r.conv, r.course ORDER BY r.at DESC, r.seq DESC) AS rn"
        " FROM records r WHERE r.type IN ('enrolled', 'course') AND r.course IS NOT NULL";
    sql += record_conditions("r", f, p) + ") ";
    sql += "SELECT " + group_sql + ", l.course, COUNT(*),"
           " SUM(CASE WHEN l.type = 'course' AND l.status = 'completed' THEN 1 ELSE 0 END)"
           " FROM latest l " + join_sql;
    if (cohort) sql += cohort_join_condition("g", f, p);
    sql += " WHERE l.rn = 1 GROUP BY " + group_sql + ", l.course";
    json rows = json::array();
    for (const auto& row : db.query(sql, p))
      rows.push_back({{key, row.s(0)},
                      {"course", row.s(1)},
                      {"learners", row.i(2)},
                      {"completed", row.i(3)},
                      {"share", share(row.i(3), row.i(2))}});
    std::sort(rows.begin(), rows.end(), [key](const json& a, const json& b) {
      return std::tie(a[key].get_ref<const std::string&>(), a["course"].get_ref<const std::string&>()) <
             std::tie(b[key].get_ref<const std::string&>(), b["course"].get_ref<const std::string&>());
    });
    return rows;
  };
  out["by_cohort"] =
      breakdown("cohort", "COALESCE(g.cohort, '')", "LEFT JOIN cohort_members g ON g.conv = l.conv", true);
  out["by_state"] = breakdown("state", "COALESCE(g.state, '')", "LEFT JOIN learners g ON g.conv = l.conv", false);
  return out;
}

// ---------------------------------------------------------------------------------------------
// funnel

json record_store::funnel(const std::string& course, const std::vector<std::string>& flows_in, const report_filter& f) {
  auto& db = *db_;
  std::map<std::string, std::int64_t> module_of;
  std::vector<std::string> flows = flows_in;
  if (!course.empty()) {
    std::vector<std::pair<std::int64_t, std::string>> order;
    for (const auto& row : db.query("SELECT flow, MIN(module) FROM records WHERE type = 'module' AND course = ?"
                                    " AND flow IS NOT NULL AND module IS NOT NULL GROUP BY flow",
                                    {course})) {
      module_of[row.s(0)] = row.i(1);
      order.emplace_back(row.i(1), row.s(0));
    }
    if (flows.empty()) {
      std::sort(order.begin(), order.end());
      for (auto& [m, flow] : order) flows.push_back(flow);
    }
  } else if (flows.empty()) {
    for (const auto& row : db.query("SELECT DISTINCT flow FROM records WHERE type = 'start' AND flow IS NOT NULL"))
      flows.push_back(row.s(0));
    std::sort(flows.begin(), flows.end());
  }

  // Only the course's enrolled learners, when there is a course.
  auto enrolled_condition = [&](const std::string& r, sql_params& p) -> std::string {
    if (course.empty()) return {};
    p.emplace_back(course);
    return " AND " + r + ".conv IN (SELECT e.conv FROM records e WHERE e.type = 'enrolled' AND e.course = ?" +
           record_conditions("e", f, p) + ")";
  };

  json enrolled;
  if (!course.empty()) {
    sql_params p{course};
    const std::string sql = "SELECT COUNT(DISTINCT r.conv) FROM records r WHERE r.type = 'enrolled' AND r.course = ?" +
                            record_conditions("r", f, p);
    enrolled = db.query(sql, p).at(0).i(0);
  }

  const std::string completed_sql = "r.status = 'completed' AND r.type IN ('end', 'module')";
  json steps = json::array();
  for (const auto& flow : flows) {
    auto count = [&](const std::string& what) {
      sql_params p{flow};
      std::string sql = "SELECT COUNT(DISTINCT r.conv) FROM records r WHERE r.flow = ? AND " + what;
      sql += record_conditions("r", f, p);
      sql += enrolled_condition("r", p);
      return db.query(sql, p).at(0).i(0);
    };
    const auto started = count("r.type = 'start'");
    const auto completed = count(completed_sql);

    sql_params p{flow};
    std::string sql = "WITH s AS (SELECT DISTINCT r.conv FROM records r WHERE r.type = 'start' AND r.flow = ?";
    sql += record_conditions("r", f, p);  // one call per statement: both append to p, in text order
    sql += enrolled_condition("r", p) + "), ";
    p.emplace_back(flow);
    sql += "d AS (SELECT DISTINCT r.conv FROM records r WHERE r.flow = ? AND " + completed_sql;
    sql += record_conditions("r", f, p) + "), ";
    p.emplace_back(flow);
    sql +=
        "l AS (SELECT r.conv, r.node, ROW_NUMBER() OVER (PARTITION BY r.conv ORDER BY r.at DESC, r.seq DESC) AS rn"
        " FROM records r WHERE r.flow = ? AND r.node IS NOT NULL";
    sql += record_conditions("r", f, p) + ") ";
    sql +=
        "SELECT COALESCE(l.node, ''), COUNT(*) FROM s LEFT JOIN l ON l.conv = s.conv AND l.rn = 1"
        " WHERE s.conv NOT IN (SELECT conv FROM d) GROUP BY COALESCE(l.node, '')";
    json drop = json::array();
    for (const auto& row : db.query(sql, p)) drop.push_back({{"node", row.s(0)}, {"learners", row.i(1)}});
    std::sort(drop.begin(), drop.end(), [](const json& a, const json& b) {
      if (a["learners"] != b["learners"]) return a["learners"].get<std::int64_t>() > b["learners"].get<std::int64_t>();
      return a["node"] < b["node"];
    });

    auto m = module_of.find(flow);
    steps.push_back({{"flow", flow},
                     {"module", m == module_of.end() ? json() : json(m->second)},
                     {"enrolled", enrolled},
                     {"started", started},
                     {"completed", completed},
                     {"drop_off", std::move(drop)}});
  }
  return {{"course", course.empty() ? json() : json(course)}, {"enrolled", enrolled}, {"steps", std::move(steps)}};
}

// ---------------------------------------------------------------------------------------------
// items

json record_store::items(const std::string& flow, const report_filter& f) {
  auto& db = *db_;
  std::map<std::string, json> nodes;
  auto node = [&](const std::string& id) -> json& {
    json& n = nodes[id];
    if (n.is_null())
      n = {{"node", id},          {"learners", 0},           {"first_correct", 0},  {"first_correct_share", 0.0},
           {"correct_any", 0},    {"skipped", 0},            {"answers", json::array()},
           {"first_answers", json::array()}, {"most_chosen_wrong", nullptr}};
    return n;
  };

  {
    sql_params p{flow};
    std::string sql =
        "SELECT r.node, COUNT(DISTINCT CASE WHEN r.status = 'answered' AND r.correct = 1 THEN r.conv END),"
        " COUNT(DISTINCT CASE WHEN r.status = 'skipped' THEN r.conv END)"
        " FROM records r WHERE r.type = 'quiz' AND r.flow = ? AND r.node IS NOT NULL";
    sql += record_conditions("r", f, p) + " GROUP BY r.node";
    for (const auto& row : db.query(sql, p)) {
      json& n = node(row.s(0));
      n["correct_any"] = row.i(1);
      n["skipped"] = row.i(2);
    }
  }

  const std::string answered =
      " FROM records r JOIN record_items v ON v.conv = r.conv AND v.id = r.id"
      " WHERE r.type = 'quiz' AND r.status = 'answered' AND r.flow = ? AND r.node IS NOT NULL";

  // Every attempt, and how many of them were wrong.
  {
    sql_params p{flow};
    std::string sql = "SELECT r.node, v.item, MAX(v.num), COUNT(*), MAX(r.correct),"
                      " SUM(CASE WHEN r.correct = 1 THEN 0 ELSE 1 END)" + answered;
    sql += record_conditions("r", f, p) + " GROUP BY r.node, v.item";
    for (const auto& row : db.query(sql, p)) {
      json& n = node(row.s(0));
      const json value = item_json(row, 1, 2);
      n["answers"].push_back({{"value", value}, {"count", row.i(3)}, {"correct", row.i(4) == 1}});
      const auto wrong = row.i(5);
      json& worst = n["most_chosen_wrong"];
      if (wrong > 0 && (worst.is_null() || wrong > worst["count"].get<std::int64_t>() ||
                        (wrong == worst["count"].get<std::int64_t>() && value < worst["value"])))
        worst = {{"value", value}, {"count", wrong}};
    }
  }

  // Each learner's first attempt.
  {
    sql_params p{flow};
    std::string sql =
        "SELECT node, item, MAX(num), COUNT(*), MAX(correct) FROM ("
        " SELECT r.conv, r.node, v.item, v.num, r.correct,"
        "  ROW_NUMBER() OVER (PARTITION BY r.conv, r.node ORDER BY r.at, r.seq) AS rn" + answered;
    sql += record_conditions("r", f, p) + ") t WHERE rn = 1 GROUP BY node, item";
    for (const auto& row : db.query(sql, p)) {
      json& n = node(row.s(0));
      const bool correct = row.i(4) == 1;
      n["first_answers"].push_back({{"value", item_json(row, 1, 2)}, {"count", row.i(3)}, {"correct", correct}});
      n["learners"] = n["learners"].get<std::int64_t>() + row.i(3);
      if (correct) n["first_correct"] = n["first_correct"].get<std::int64_t>() + row.i(3);
    }
  }

  json list = json::array();
  for (auto& [id, n] : nodes) {
    n["first_correct_share"] = share(n["first_correct"].get<std::int64_t>(), n["learners"].get<std::int64_t>());
    sort_tally(n["answers"]);
    sort_tally(n["first_answers"]);
    list.push_back(std::move(n));
  }
  return {{"flow", flow}, {"nodes", std::move(list)}};
}

// ---------------------------------------------------------------------------------------------
// survey

json record_store::survey(const std::string& flow, const report_filter& f, const std::vector<std::string>& nps_nodes) {
  auto& db = *db_;
  // Each learner's latest answer per node: `a`, with its parameters first.
  sql_params base{flow};
  std::string with =
      "WITH a AS (SELECT r.conv, r.id, r.node, r.num, r.text,"
      " ROW_NUMBER() OVER (PARTITION BY r.conv, r.node ORDER BY r.at DESC, r.seq DESC) AS rn"
      " FROM records r WHERE r.type = 'answer' AND r.status = 'answered' AND r.flow = ? AND r.node IS NOT NULL";
  with += record_conditions("r", f, base) + ") ";

  std::map<std::string, json> nodes;
  for (const auto& row : db.query(with + "SELECT node, COUNT(*), COUNT(num), AVG(num), MIN(num), MAX(num)"
                                         " FROM a WHERE rn = 1 GROUP BY node",
                                  base)) {
    json numeric;
    if (row.i(2) > 0)
      numeric = {
          {"count", row.i(2)}, {"mean", row.d(3)}, {"min", number_json(row.d(4))}, {"max", number_json(row.d(5))}};
    nodes[row.s(0)] = {{"node", row.s(0)},
                       {"responses", row.i(1)},
                       {"values", json::array()},
                       {"numeric", std::move(numeric)},
                       {"texts", json::array()}};
  }
  for (const auto& row : db.query(with + "SELECT a.node, v.item, MAX(v.num), COUNT(*) FROM a"
                                         " JOIN record_items v ON v.conv = a.conv AND v.id = a.id"
                                         " WHERE a.rn = 1 GROUP BY a.node, v.item",
                                  base))
    nodes[row.s(0)]["values"].push_back({{"value", item_json(row, 1, 2)}, {"count", row.i(3)}});
  for (const auto& row : db.query(with + "SELECT node, text, COUNT(*) FROM a WHERE rn = 1 AND text IS NOT NULL"
                                         " GROUP BY node, text",
                                  base))
    nodes[row.s(0)]["texts"].push_back({{"text", row.s(1)}, {"count", row.i(2)}});

  json out = {{"flow", flow}, {"nodes", json::array()}, {"by_state", json::array()}, {"by_cohort", json::array()},
              {"nps", json::array()}};
  for (auto& [id, n] : nodes) {
    sort_tally(n["values"]);
    sort_tally(n["texts"], "text");
    out["nodes"].push_back(std::move(n));
  }

  auto breakdown = [&](const char* key, const std::string& group_sql, const std::string& join_sql, bool cohort) {
    sql_params p = base;
    std::string sql = with + "SELECT " + group_sql + ", a.node, COUNT(a.num), AVG(a.num) FROM a " + join_sql;
    if (cohort) sql += cohort_join_condition("g", f, p);
    sql += " WHERE a.rn = 1 AND a.num IS NOT NULL GROUP BY " + group_sql + ", a.node";
    json rows = json::array();
    for (const auto& row : db.query(sql, p))
      rows.push_back({{key, row.s(0)}, {"node", row.s(1)}, {"count", row.i(2)}, {"mean", row.d(3)}});
    std::sort(rows.begin(), rows.end(), [key](const json& a, const json& b) {
      return std::tie(a[key].get_ref<const std::string&>(), a["node"].get_ref<const std::string&>()) <
             std::tie(b[key].get_ref<const std::string&>(), b["node"].get_ref<const std::string&>());
    });
    return rows;
  };
  out["by_state"] = breakdown("state", "COALESCE(g.state, '')", "LEFT JOIN learners g ON g.conv = a.conv", false);
  out["by_cohort"] =
      breakdown("cohort", "COALESCE(g.cohort, '')", "LEFT JOIN cohort_members g ON g.conv = a.conv", true);

  for (const auto& id : nps_nodes) {
    sql_params p = base;
    p.emplace_back(id);
    const auto row = db.query(with +
                                  "SELECT COUNT(*), SUM(CASE WHEN num >= 9 THEN 1 ELSE 0 END),"
                                  " SUM(CASE WHEN num <= 6 THEN 1 ELSE 0 END)"
                                  " FROM a WHERE rn = 1 AND node = ? AND num IS NOT NULL",
                              p)
                         .at(0);
    const auto n = row.i(0), promoters = row.i(1), detractors = row.i(2);
    out["nps"].push_back({{"node", id},
                          {"responses", n},
                          {"promoters", promoters},
                          {"passives", n - promoters - detractors},
                          {"detractors", detractors},
                          {"nps", n > 0 ? 100.0 * static_cast<double>(promoters - detractors) / static_cast<double>(n)
                                        : 0.0}});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// answers

json record_store::answers(const std::string& flow, const report_filter& f) {
  auto& db = *db_;
  const std::string answered =
      " FROM records r WHERE r.type IN ('answer', 'quiz') AND r.status = 'answered' AND r.flow = ?"
      " AND r.node IS NOT NULL";

  // The cohorts of the learners who answered (all their cohorts, as progress lists them).
  std::map<std::string, std::vector<std::string>> cohorts;
  {
    sql_params p{flow};
    std::string sql = "SELECT DISTINCT m.conv, m.cohort FROM cohort_members m WHERE m.conv IN (SELECT r.conv" + answered;
    sql += record_conditions("r", f, p) + ")";
    for (const auto& row : db.query(sql, p)) cohorts[row.s(0)].push_back(row.s(1));
    for (auto& kv : cohorts) std::sort(kv.second.begin(), kv.second.end());
  }

  sql_params p{flow};
  std::string sql =
      "SELECT r.conv, l.name, l.state, r.node, r.type, r.value, r.text, r.correct, r.attempt, r.at"
      " FROM records r LEFT JOIN learners l ON l.conv = r.conv"
      " WHERE r.type IN ('answer', 'quiz') AND r.status = 'answered' AND r.flow = ? AND r.node IS NOT NULL";
  sql += record_conditions("r", f, p) + " ORDER BY r.at, r.seq";
  json rows = json::array();
  for (const auto& row : db.query(sql, p)) {
    const std::string conv = row.s(0);
    const bool quiz = row.s(4) == "quiz";
    json value;
    if (!row.null(5)) {
      value = json::parse(row.s(5), nullptr, false);
      if (value.is_discarded()) value = row.s(5);
    }
    auto c = cohorts.find(conv);
    rows.push_back({{"conv", conv},
                    {"name", nullable_text(row, 1)},
                    {"state", nullable_text(row, 2)},
                    {"cohorts", c == cohorts.end() ? json::array() : json(c->second)},
                    {"node", row.s(3)},
                    {"type", row.s(4)},
                    {"value", std::move(value)},
                    {"text", nullable_text(row, 6)},
                    {"correct", quiz ? json(row.i(7) == 1) : json()},
                    {"attempt", quiz ? nullable_int(row, 8) : json()},
                    {"at", row.i(9)}});
  }
  return {{"flow", flow}, {"rows", std::move(rows)}};
}

// ---------------------------------------------------------------------------------------------
// delivery

json record_store::delivery(const report_filter& f) {
  sql_params p;
  std::string sql =
      "SELECT r.channel, r.type, r.status, SUM(COALESCE(r.messages, 1)), SUM(r.segments) FROM records r"
      " WHERE r.type IN ('sent', 'delivery', 'dead_letter', 'reengagement')";
  sql += record_conditions("r", f, p) + " GROUP BY r.channel, r.type, r.status";

  auto blank = [] {
    return json{{"sent", 0},         {"segments", 0},      {"delivered", 0}, {"read", 0}, {"failed", 0},
                {"dead_letters", 0}, {"reengagements", 0}, {"statuses", json::object()}};
  };
  std::map<std::string, json> channels;
  json totals = blank();
  for (const auto& row : db_->query(sql, p)) {
    const std::string channel = row.s(0), type = row.s(1), status = row.s(2);
    const auto n = row.i(3);
    json& c = channels[channel];
    if (c.is_null()) c = blank();
    auto add = [&](const std::string& key, std::int64_t k) {
      c[key] = c[key].get<std::int64_t>() + k;
      totals[key] = totals[key].get<std::int64_t>() + k;
    };
    if (type == "sent") {
      add("sent", n);
      add("segments", row.i(4));
    } else if (type == "dead_letter") {
      add("dead_letters", n);
    } else if (type == "reengagement") {
      add("reengagements", n);
    } else {
      if (status == "delivered" || status == "read" || status == "failed") add(status, n);
      c["statuses"][status] = c["statuses"].value(status, std::int64_t{0}) + n;
      totals["statuses"][status] = totals["statuses"].value(status, std::int64_t{0}) + n;
    }
  }
  json list = json::array();
  for (auto& [channel, c] : channels) {
    c["channel"] = channel;
    list.push_back(std::move(c));
  }
  return {{"channels", std::move(list)}, {"totals", std::move(totals)}};
}

}  // namespace aula::records
