// A snapshot of aula's Redis keys for `aula backup` / `aula restore` (bot/cli/backup.cpp):
// every key under "<prefix>:" read with SCAN (on every master of a Redis Cluster), then DUMP +
// PTTL in one MULTI per partition (a step commits one partition's keys atomically, so each
// partition is captured between two steps; in a cluster one MULTI per slot, which a
// partition's keys share). Clearing and restoring send one pipeline per slot in a cluster.
// It needs no access to Redis's files, so it works on a managed or remote Redis.
// Partition leases ("<prefix>:{pN}:lease") are left out: they belong to running processes.
//
// The file: "AULA-REDIS 1\n", then per key: u32 key length, key, i64 PTTL in ms (-1: none),
// u32 value length, DUMP value (big-endian integers).
//
// Each call connects, does its work and disconnects (its own io_context): for commands, not
// for the server. Failures throw std::runtime_error with a readable message.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace aula {

struct redis_snapshot_options {
  std::string url;       // redis://… or unix://…
  std::string prefix = "aula";
  std::chrono::milliseconds timeout{30000};  // per command / pipeline
};

struct redis_snapshot_written {
  std::size_t keys = 0;    // written to the file
  std::size_t leases = 0;  // left out
  std::size_t gone = 0;    // listed by SCAN, deleted before their DUMP
  std::string partitions;  // "<prefix>:meta:partitions" ("" when Redis holds no aula data)
};

// Keys under "<prefix>:" (sorted, each once).
std::vector<std::string> redis_snapshot_keys(const redis_snapshot_options& o);
redis_snapshot_written redis_snapshot_write(const redis_snapshot_options& o, const std::filesystem::path& file);
// UNLINKs every key under "<prefix>:"; returns how many there were.
std::size_t redis_snapshot_clear(const redis_snapshot_options& o);
// RESTORE … REPLACE of every key of the file, with the TTL it had when saved; returns the count.
std::size_t redis_snapshot_restore(const redis_snapshot_options& o, const std::filesystem::path& file);

}  // namespace aula
