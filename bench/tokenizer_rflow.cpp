// Tokenizer throughput (SPEC.md 6.e): trains a byte-level unigram vocabulary on part of a text
// corpus, then encodes the whole corpus line by line deterministically (Viterbi), with the exact
// Viterbi sampler and with the old (9768) rule at alpha, and reports MB/s (best of --repeats) by
// wall time and by the thread's CPU time.
// Prints one JSON object per line. bench/run_tokenizer.sh builds the corpus and runs this.
//
// Usage: tokenizer_rflow [--vocab 4096] [--train-mb 2] [--alpha 0.1] [--repeats 3]
//                        [--save vocab.json] FILE...
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <rflow/data/tokenizer.hpp>
#include <rflow/error.hpp>
#include <rflow/philox.hpp>

using namespace rflow;
using namespace rflow::data;

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of this thread: on a loaded machine it moves far less than wall time.
double cpu_s() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Lines of all files, each with its '\n', so that concatenating them restores the files.
std::vector<std::string> read_lines(const std::vector<std::string>& files) {
    std::vector<std::string> lines;
    for (const std::string& f : files) {
        std::ifstream in(f, std::ios::binary);
        if (!in) throw rflow::Error("cannot read " + f);
        std::string line;
        while (std::getline(in, line)) lines.push_back(line + "\n");
    }
    return lines;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        int64_t vocab = 4096;
        double train_mb = 2.0, alpha = 0.1;
        int repeats = 3;
        std::string save;
        std::vector<std::string> files;
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            auto next = [&]() -> std::string {
                if (i + 1 >= argc) throw rflow::Error("missing value after " + a);
                return argv[++i];
            };
            if (a == "--vocab") vocab = std::stoll(next());
            else if (a == "--train-mb") train_mb = std::stod(next());
            else if (a == "--alpha") alpha = std::stod(next());
            else if (a == "--repeats") repeats = std::stoi(next());
            else if (a == "--save") save = next();
            else files.push_back(a);
        }
        if (files.empty()) throw rflow::Error("usage: tokenizer_rflow [options] FILE...");
        const std::vector<std::string> lines = read_lines(files);
        size_t total = 0;
        for (const auto& l : lines) total += l.size();
        // Training set: every k-th line, about train_mb megabytes spread over the whole corpus.
        const size_t want = static_cast<size_t>(train_mb * 1e6);
        const size_t stride = std::max<size_t>(1, total / std::max<size_t>(want, 1));
        std::vector<std::string> train;
        size_t train_bytes = 0;
        for (size_t i = 0; i < lines.size(); i += stride) {
            train.push_back(lines[i]);
            train_bytes += lines[i].size();
        }
        UnigramTrainOptions opt;
        opt.vocab_size = vocab;
        double t0 = now_s();
        const UnigramTokenizer tok = UnigramTokenizer::train(train, opt);
        const double train_s = now_s() - t0;
        std::printf("{\"stage\": \"train\", \"train_bytes\": %zu, \"vocab\": %lld, \"seconds\": %.3f}\n",
                    train_bytes, static_cast<long long>(tok.vocab_size()), train_s);
        std::fflush(stdout);
        if (!save.empty()) tok.save(save);

        struct Mode {
            const char* name;
            int kind;  // 0 encode, 1 exact sampler, 2 old rule
        };
        for (const Mode m : {Mode{"deterministic", 0}, Mode{"sample_exact", 1}, Mode{"sample_old_9768", 2}}) {
            double best = 1e300, best_cpu = 1e300;
            size_t tokens = 0;
            bool round_trip = true;
            for (int r = 0; r < repeats; ++r) {
                Generator gen(1234);
                const UnigramSampleOptions so{CandidateOrder::longest_first,
                                              m.kind == 2 ? SamplingRule::sigmoid_9768 : SamplingRule::exact};
                tokens = 0;
                t0 = now_s();
                const double c0 = cpu_s();
                for (const std::string& l : lines) {
                    const std::vector<int64_t> ids = m.kind == 0 ? tok.encode(l) : tok.sample(l, alpha, gen, so);
                    tokens += ids.size();
                    if (r == 0 && tok.decode(ids) != l) round_trip = false;
                }
                const double dt = now_s() - t0, dc = cpu_s() - c0;
                if (r > 0 || repeats == 1) {  // the first of several repeats also checks decode
                    best = std::min(best, dt);
                    best_cpu = std::min(best_cpu, dc);
                }
            }
            std::printf("{\"stage\": \"%s\", \"alpha\": %g, \"bytes\": %zu, \"tokens\": %zu, "
                        "\"bytes_per_token\": %.3f, \"seconds\": %.3f, \"mb_per_s\": %.3f, "
                        "\"cpu_seconds\": %.3f, \"cpu_mb_per_s\": %.3f, \"round_trip\": %s}\n",
                        m.name, m.kind == 0 ? -1.0 : alpha, total, tokens,
                        static_cast<double>(total) / static_cast<double>(tokens), best,
                        static_cast<double>(total) / 1e6 / best, best_cpu,
                        static_cast<double>(total) / 1e6 / best_cpu, round_trip ? "true" : "false");
            std::fflush(stdout);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tokenizer_rflow: %s\n", e.what());
        return 1;
    }
}
