// Who may do what through the admin API: people with bearer tokens, their roles and the
// cohorts they look after, and the audit log of what they did.
//
// Tokens: per person, created with `aula admin token create` (or POST /admin/tokens), shown
// once, stored only as their sha256 in the directory ("token:<sha256 hex>" -> {name, role,
// cohorts, created_at, created_by}); plus AULA_ADMIN_TOKENS ("role:token,…") to bootstrap.
// A token is looked up by its hash, and bootstrap tokens are compared as hashes with
// CRYPTO_memcmp, so the time taken says nothing about a token's characters.
//
// Roles: `admin` may do everything; `facilitator` may enrol, remind, broadcast and read
// reports only for their cohorts, or for the learners of their commissions (the local
// commission of a state: a facilitator scoped to "Jalisco" reaches the Jalisco learners of any
// cohort, and only them). Missing or unknown token: 401; known but outside role or scope: 403.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bot/config/config.hpp"
#include "bot/io/net.hpp"
#include "bot/store/store.hpp"

namespace aula {

struct principal {
  std::string name;                  // who, as the audit log shows it
  std::string role;                  // admin | facilitator
  std::vector<std::string> cohorts;      // a facilitator's cohorts (admins: all)
  std::vector<std::string> commissions;  // a facilitator's states, official names (state_name)

  bool is_admin() const { return role == "admin"; }
  // May act on all of `cohort` (admins on any; facilitators on theirs; "" = no cohort named).
  bool covers(const std::string& cohort) const;
  // May act on the learners of `state` (admins: all; facilitators: their commissions).
  bool covers_state(const std::string& state) const;
  // May act on part of `cohort` at least: all of it, or its learners of their commissions.
  bool reaches(const std::string& cohort) const { return covers(cohort) || (!cohort.empty() && !commissions.empty()); }
  // May see and act on the learner of this directory record (cohorts, state).
  bool covers_learner(const nlohmann::json& record) const;
};

std::string sha256_hex(const std::string& s);

class access_control {
 public:
  access_control(store& st, std::vector<admin_token> bootstrap);

  // The person behind an Authorization header ("Bearer <token>"); nullopt when unknown.
  net::awaitable<std::optional<principal>> who(const std::string& authorization);

  // A new token for `name` (returned once; only its hash is kept). Throws
  // std::invalid_argument on a bad role, an empty name, a name in use, an unknown state, or a
  // facilitator without cohorts or commissions.
  net::awaitable<std::string> create_token(const std::string& name, const std::string& role,
                                           const std::vector<std::string>& cohorts, const std::string& by,
                                           std::int64_t now_ms, const std::vector<std::string>& commissions = {});
  // Every stored token's holder (no secrets): [{name, role, cohorts, commissions, created_at,
  // created_by}].
  net::awaitable<std::vector<nlohmann::json>> tokens();
  // Revokes `name`'s tokens; false when there were none.
  net::awaitable<bool> revoke(const std::string& name);

  // Appends to the audit log: who did `action` on `target` (details: what exactly).
  net::awaitable<void> audit(const principal& p, const std::string& action, const std::string& target,
                             const nlohmann::json& details, std::int64_t now_ms);

 private:
  store& st_;
  std::vector<std::pair<std::string, std::string>> bootstrap_;  // (role, sha256 of token)
};

}  // namespace aula
