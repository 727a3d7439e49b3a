// Point clouds as CSV text: one point per line, coordinates separated by commas.
//
// Format read by load_points_csv:
//   - rows of comma-separated decimal numbers (C locale: '.' decimal point, optional exponent,
//     optional leading '+' or '-', spaces and tabs around a field are ignored);
//   - optionally, the first non-blank line is a header of names: it is taken as a header when none
//     of its fields is a number (a first line mixing names and numbers is an error);
//   - blank (or whitespace-only) lines are ignored anywhere; "\r\n" line ends and a UTF-8 byte-order
//     mark are accepted;
//   - every row has the same number of columns; every value is finite (nan/inf are rejected);
//   - at least one data row (a file with only a header, or nothing, is an error).
// Every error is an rflow::Error naming the file and the 1-based line number.
#pragma once

#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow::data {

/// Reads a CSV file of points into a float32 [rows, columns] tensor (format above). When `header`
/// is given it receives the header names (empty when the file has no header line).
RFLOW_API Tensor load_points_csv(const std::string& path, std::vector<std::string>* header = nullptr);

/// Writes a 2-D tensor [N, D] as CSV, one row per point, each float in the shortest form that reads
/// back to the same float (so save + load is bit-exact for finite values). An optional header line
/// of D names comes first (names must be non-empty, must not parse as numbers and must not contain
/// ',', '"' or line breaks). The file is written atomically (temp file, fsync, rename): on error the
/// old file is left untouched. Non-finite values are refused (load_points_csv would reject them).
RFLOW_API void save_points_csv(const std::string& path, const Tensor& points,
                               const std::vector<std::string>& header = {});

}  // namespace rflow::data
