#pragma once
// A trainer's machine-readable log, OUT_DIR/train_log.jsonl (docs/training.md,
// "The training log"): one JSON object per line, written as training goes, so
// that curves can be drawn (wsss-report) or followed (tail -f) without parsing
// progress lines. Every entry has "kind" ("step", "epoch" or "validation"),
// "iteration" (optimiser steps done, counted from the start of the schedule)
// and "seconds" (wall seconds of training so far, summed over resumed runs).
//
// A resumed run keeps the entries up to its checkpoint and drops the rest (the
// steps it is about to run again), so the log of a stopped-and-resumed run has
// the entries of an uninterrupted one, once each.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace wsss {

namespace fs = std::filesystem;

inline const char* kTrainLogFile = "train_log.jsonl";

class TrainLogWriter {
 public:
  // Starts the log at `file`. keep_through < 0: a fresh log (an existing file is
  // replaced). keep_through >= 0: a resumed run after `keep_through` iterations:
  // the entries of the existing log (if any) with "iteration" <= keep_through are
  // kept (rewritten atomically), later ones and an unterminated last line are
  // dropped. A log that is not one (a line that is not an entry) is replaced,
  // with a warning naming the file and line: the training resumes all the same.
  TrainLogWriter(fs::path file, long long keep_through);
  ~TrainLogWriter();
  TrainLogWriter(const TrainLogWriter&) = delete;
  TrainLogWriter& operator=(const TrainLogWriter&) = delete;

  // Appends one entry as a line and flushes it (a reader sees whole lines).
  void append(const nlohmann::ordered_json& entry);
  // The "seconds" of the last kept entry of a resumed log (0 for a fresh one):
  // a resumed run adds its own time to it.
  double seconds_before() const { return seconds_before_; }
  const fs::path& file() const { return file_; }

 private:
  fs::path file_;
  std::FILE* out_ = nullptr;
  double seconds_before_ = 0;
};

// Reads a training log: every complete line must be a JSON object with a
// numeric "iteration" (InputError naming the file and line otherwise); an
// unterminated last line (a run writing it right now) is ignored.
std::vector<nlohmann::ordered_json> read_train_log(const fs::path& file);

}  // namespace wsss
