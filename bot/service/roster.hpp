// The learner roster of `aula enroll --cohort piloto learners.csv`: a CSV of learners, parsed
// and checked row by row, so the good rows can be imported and the bad ones reported by line
// to the operator who made the spreadsheet. Pure: no I/O, no clock (the tz database is read
// only as reference data, through known_time_zone).
//
// The file: RFC 4180 CSV (quoted cells with "" escapes and line breaks, CRLF or LF), a UTF-8
// byte order mark skipped, the delimiter taken from the header line (`,`, `;` as spreadsheets
// in Spanish locales write it, or tab). The first non-blank line is the header; its column
// names may be Spanish or English, case and accents ignored:
//
//   name      nombre | name                                                 (required)
//   address   telefono | teléfono | phone | celular | whatsapp | direccion | address |
//             chat_id | telegram                (required, except with default channel telegram)
//   channel   canal | channel                    whatsapp | sms (mensaje) | telegram | web
//   language  idioma | language | lang            es | en (español, english); empty = es
//   state     estado | state | entidad            one of Mexico's 32 states (gives the time zone)
//   role      rol | role | cargo
//   consent   consentimiento | consent | opt_in   how the opt-in was obtained (WhatsApp: required)
//   tz        zona | tz | time_zone | zona_horaria  an IANA zone; overrides the state's zone
//
// Any other named column goes to roster_row::extra (the learner's contact fields).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace aula {

struct roster_row {
  int line = 0;         // 1-based line of the file where the row starts (the header is line 1)
  std::string channel;  // whatsapp | sms | telegram | web
  // whatsapp/sms: E.164 ("+525512345678"); telegram: the numeric chat id, or "" (the learner
  // gets a deep link); web: 32 lower-case hex.
  std::string address;
  std::string name;
  std::string language;  // es | en (default es)
  std::string state;     // as written, trimmed
  std::string role;
  std::string consent;  // how the opt-in was obtained, as written
  std::string tz;       // IANA zone: the tz column, else the state's zone, else America/Mexico_City
  // Any other column (header as written, trimmed and lower-cased) -> value (trimmed); empty
  // cells are left out so an import never blanks an existing contact field.
  std::map<std::string, std::string> extra;

  std::string conversation() const;  // "<channel>:<address>" ("" when address is empty)
};

struct roster_problem {
  int line = 0;
  std::string column;   // the header of the column at fault, as written ("" for the whole row)
  std::string message;  // English, as aula's other operator messages, saying what to do
};

struct roster {
  // One entry per column of the header, in file order: the normalised name of a recognised
  // column ("name", "channel", "address", "language", "state", "role", "consent", "tz"), the
  // lower-cased header of any other (the key in roster_row::extra), "" for an unnamed column.
  std::vector<std::string> columns;
  std::vector<roster_row> rows;          // only the valid rows, in file order
  std::vector<roster_problem> problems;  // every problem, in file order; a row with any is not in rows
};

// default_channel: used when the file has no channel column or the cell is empty (Spanish
// aliases accepted as in the channel column; an unknown one is a file-level problem).
roster parse_roster(std::string_view csv, const std::string& default_channel = "whatsapp");

// Mexico's 32 states (full names and common short forms, accents, case and punctuation
// ignored: "Ciudad de México", "CDMX", "Estado de México", "Edomex", "Q. Roo", "B.C.S.", …)
// -> IANA zone; "" when unknown. The table is in roster.cpp.
std::string time_zone_of_state(std::string_view state);

// The official name of a state as time_zone_of_state recognises it ("cdmx" -> "Ciudad de
// México"); "" when unknown.
std::string state_name(std::string_view state);

}  // namespace aula
