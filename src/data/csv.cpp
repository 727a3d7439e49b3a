// CSV point files: a small strict reader (header detection, fixed column count, line-numbered
// errors) and an atomic writer that prints floats in their shortest round-trip form.
#include "rflow/data/csv.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>
#include <system_error>

#include "rflow/error.hpp"
#include "rflow/io/atomic_file.hpp"

namespace rflow::data {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::vector<std::string_view> split_fields(std::string_view line) {
    std::vector<std::string_view> out;
    size_t start = 0;
    while (true) {
        const size_t comma = line.find(',', start);
        out.push_back(trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
        if (comma == std::string_view::npos) return out;
        start = comma + 1;
    }
}

enum class Parse { ok, not_a_number, out_of_range };

// Parses the whole field as a float (C locale). `out` is set for ok only.
Parse parse_float(std::string_view f, float& out) {
    if (!f.empty() && f.front() == '+') {
        f.remove_prefix(1);
        if (!f.empty() && (f.front() == '+' || f.front() == '-')) return Parse::not_a_number;
    }
    if (f.empty()) return Parse::not_a_number;
    const char* end = f.data() + f.size();
    float v = 0;
    auto r = std::from_chars(f.data(), end, v);
    if (r.ptr != end) return Parse::not_a_number;
    if (r.ec == std::errc::result_out_of_range) {
        // overflow is an error; underflow rounds to the nearest float (a denormal or zero)
        double d = 0;
        auto rd = std::from_chars(f.data(), end, d);
        if (rd.ptr != end || rd.ec != std::errc() || std::fabs(d) > std::numeric_limits<float>::max())
            return Parse::out_of_range;
        v = static_cast<float>(d);
    } else if (r.ec != std::errc()) {
        return Parse::not_a_number;
    }
    out = v;
    return Parse::ok;
}

bool is_number(std::string_view f) {
    float v;
    return parse_float(f, v) != Parse::not_a_number;
}

}  // namespace

Tensor load_points_csv(const std::string& path, std::vector<std::string>* header) {
    const std::vector<uint8_t> bytes = io::read_file(path);
    std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    if (header) header->clear();

    std::vector<float> values;
    int64_t cols = -1, rows = 0, line_no = 0;
    bool seen_first = false;
    size_t pos = 0;
    while (pos <= text.size()) {
        const size_t nl = text.find('\n', pos);
        const std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
        ++line_no;
        if (trim(line).empty()) continue;
        const std::vector<std::string_view> fields = split_fields(line);
        const int64_t nf = static_cast<int64_t>(fields.size());
        if (!seen_first) {
            seen_first = true;
            int64_t numeric = 0;
            for (auto f : fields) numeric += is_number(f) ? 1 : 0;
            if (numeric == 0) {  // a header line
                for (int64_t c = 0; c < nf; ++c)
                    RFLOW_CHECK(!fields[c].empty(), path << ":" << line_no << ": empty name in header column " << c + 1);
                if (header)
                    for (auto f : fields) header->emplace_back(f);
                cols = nf;
                continue;
            }
            if (numeric != nf) {
                for (int64_t c = 0; c < nf; ++c)
                    RFLOW_CHECK(fields[c].empty() || is_number(fields[c]),
                                path << ":" << line_no << ": column " << c + 1 << " '" << fields[c]
                                     << "' is not a number (a header line must hold only names, a data line only "
                                        "numbers)");
            }
        }
        RFLOW_CHECK(cols < 0 || nf == cols,
                    path << ":" << line_no << ": " << nf << " columns, but earlier lines have " << cols);
        cols = nf;
        for (int64_t c = 0; c < nf; ++c) {
            float v = 0;
            const Parse p = parse_float(fields[c], v);
            RFLOW_CHECK(!fields[c].empty(), path << ":" << line_no << ": empty value in column " << c + 1);
            RFLOW_CHECK(p != Parse::not_a_number,
                        path << ":" << line_no << ": column " << c + 1 << " '" << fields[c] << "' is not a number");
            RFLOW_CHECK(p != Parse::out_of_range,
                        path << ":" << line_no << ": column " << c + 1 << " '" << fields[c] << "' is out of float range");
            RFLOW_CHECK(std::isfinite(v), path << ":" << line_no << ": column " << c + 1 << " '" << fields[c]
                                               << "' is not finite");
            values.push_back(v);
        }
        ++rows;
    }
    RFLOW_CHECK(rows > 0, path << ": no data rows (" << (cols > 0 ? "only a header" : "empty file") << ")");
    return Tensor::from_vector(values, {rows, cols});
}

void save_points_csv(const std::string& path, const Tensor& points, const std::vector<std::string>& header) {
    RFLOW_CHECK(points.defined() && points.dim() == 2,
                "save_points_csv(" << path << "): need a 2-D [N, D] tensor, got "
                                   << (points.defined() ? shape_str(points.shape()) : std::string("an undefined tensor")));
    const int64_t n = points.size(0), d = points.size(1);
    RFLOW_CHECK(d > 0, "save_points_csv(" << path << "): points have no columns");
    RFLOW_CHECK(header.empty() || static_cast<int64_t>(header.size()) == d,
                "save_points_csv(" << path << "): header has " << header.size() << " names for " << d << " columns");
    std::string out;
    for (size_t c = 0; c < header.size(); ++c) {
        const std::string& h = header[c];
        RFLOW_CHECK(!trim(h).empty() && h.find_first_of(",\"\r\n") == std::string::npos && trim(h) == h,
                    "save_points_csv(" << path << "): header name " << c + 1 << " '" << h
                                       << "' must be non-empty, without ',', '\"', line breaks or surrounding spaces");
        RFLOW_CHECK(!is_number(h), "save_points_csv(" << path << "): header name '" << h
                                                      << "' is a number and would read back as data");
        out += (c ? "," : "") + h;
    }
    if (!header.empty()) out += '\n';
    const std::vector<float> v = points.to(Device::cpu).to_vector();
    out.reserve(out.size() + v.size() * 12);
    char buf[64];
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t c = 0; c < d; ++c) {
            const float x = v[i * d + c];
            RFLOW_CHECK(std::isfinite(x), "save_points_csv(" << path << "): value at row " << i << ", column " << c
                                                             << " is not finite (" << x << ")");
            auto r = std::to_chars(buf, buf + sizeof(buf), x);
            if (c) out += ',';
            out.append(buf, r.ptr);
        }
        out += '\n';
    }
    io::write_file_atomic(path, out.data(), out.size());
}

}  // namespace rflow::data
