// The C++ wrapper against the C library it wraps: same results bit for bit,
// the engine's codes in its exceptions, ownership that moves and never leaks.
#include <bitttt/bitttt.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

// tap.h is C; the strict C++ warnings are meant for the wrapper and this file
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#include "tap.h"
#pragma GCC diagnostic pop

namespace {

constexpr std::size_t D = 64, N = 40;

static_assert(!std::is_copy_constructible<bitttt::model>::value, "a model is not copyable");
static_assert(std::is_nothrow_move_constructible<bitttt::model>::value, "a model moves without throwing");
static_assert(std::is_nothrow_move_assignable<bitttt::model>::value, "a model move-assigns without throwing");

// the container overloads take floats only: doubles must not compile
template <class In, class = void>
struct forward_takes : std::false_type {};
template <class In>
struct forward_takes<In, std::void_t<decltype(std::declval<bitttt::model &>().forward(
                             std::declval<const In &>(), std::declval<std::vector<float> &>()))>>
    : std::true_type {};
static_assert(forward_takes<std::vector<float>>::value, "vector<float> is a token range");
static_assert(forward_takes<std::array<float, D>>::value, "array<float> is a token range");
static_assert(!forward_takes<std::vector<double>>::value, "vector<double> is rejected at compile time");
static_assert(!forward_takes<int>::value, "a scalar is rejected at compile time");

// runs f, which must throw bitttt::error with this code and the engine's text
template <class F>
void throws(int code, F f, const char *what)
{
    try {
        f();
        tap_ok(0, "%s: threw nothing", what);
    } catch (const bitttt::error &e) {
        const bool text = std::strstr(e.what(), ttt_strerror(code)) != nullptr;
        tap_ok(e.code() == code && text, "%s: code %d, \"%s\"", what, e.code(), e.what());
    }
}

bool same(const std::vector<float> &a, const std::vector<float> &b)
{
    return a.size() == b.size() && !std::memcmp(a.data(), b.data(), a.size() * sizeof(float));
}

} // namespace

int main(int argc, char **argv)
{
    // a path in the build tree (meson passes it): no POSIX temporary-directory calls
    const std::string state_path = argc > 1 ? argv[1] : "test_hpp.state";
    std::vector<float> in(N * D), out(N * D), ref(N * D), s(N), sref(N);
    test_fill(in.data(), in.size());

    bitttt::model m(D);
    tap_ok(m.get() != nullptr && m.hidden_dim() == D && m.config().state_dim == D / 4 &&
               m.inner_lr() == TTT_DEFAULT_INNER_LR && m.learning(),
           "model(64): D 64, d 16, default eta, learning (%s kernels, libbitttt %s)", m.kernel_name(),
           bitttt::version());

    // fresh model: the first output is the input bit for bit, surprise 1/d
    std::array<float, D> first{};
    float fs[1];
    const std::size_t n1 = m.forward(std::vector<float>(in.begin(), in.begin() + D), first, fs);
    tap_ok(n1 == 1 && !std::memcmp(first.data(), in.data(), sizeof first) && std::fabs(fs[0] - 1.0f / (D / 4)) < 1e-6f,
           "std::array and C-array overload: first output equals its input, surprise %g", fs[0]);

    // the memory effect: a repeated token's output moves
    std::vector<float> seq(6 * D), so(6 * D);
    for (std::size_t t = 0; t < 6; t++)
        std::memcpy(&seq[t * D], &in[(t % 3) * D], D * sizeof(float));
    m.reset();
    m.forward(seq, so);
    double diff = 0;
    for (std::size_t i = 0; i < D; i++)
        diff += std::fabs(so[3 * D + i] - seq[3 * D + i]);
    tap_ok(!std::memcmp(so.data(), seq.data(), D * sizeof(float)) && diff > 1e-3,
           "memory effect: token 0 again differs by %g", diff);

    // the wrapper adds nothing: the C API on the same data gives the same bits
    void *c = ttt_create(D, 0.01f);
    ttt_forward_ex(static_cast<ttt_model *>(c), in.data(), N, ref.data(), sref.data());
    ttt_destroy(c);
    m.reset();
    tap_ok(m.forward(in, out, s) == N && same(out, ref) && same(s, sref), "vector overload == C API, bit for bit");
    m.reset();
    std::fill(out.begin(), out.end(), 0.0f);
    m.forward(in.data(), N, out.data());
    tap_ok(same(out, ref) && m.stats().tokens_seen == N, "pointer overload == C API; stats count %llu tokens",
           static_cast<unsigned long long>(m.stats().tokens_seen));
    std::vector<float> inplace = in;
    m.reset();
    m.forward(inplace, inplace);
    tap_ok(same(inplace, ref), "in place == out of place");

    // errors carry the engine's code and text; a failed call changes nothing
    throws(TTT_ERR_INVALID_ARG, [] { bitttt::model bad(6); }, "model(6), D not a multiple of 4");
    throws(TTT_ERR_INVALID_ARG, [] {
        ttt_config cfg = bitttt::default_config(16);
        cfg.objective = 99;
        bitttt::model bad(cfg);
    }, "model(cfg) with objective 99");
    throws(TTT_ERR_INVALID_ARG, [&] { m.forward(std::vector<float>(D + 1), std::vector<float>(D + 1)); },
           "forward of a partial token");
    throws(TTT_ERR_INVALID_ARG, [&] { m.forward(in, std::vector<float>(D)); }, "forward with a short output");
    throws(TTT_ERR_INVALID_ARG, [&] { m.forward(in, out, std::vector<float>(1)); }, "forward with a short surprise");
    throws(TTT_ERR_INVALID_ARG, [&] { m.forward(in.data(), 0, out.data()); }, "forward of 0 tokens");
    throws(TTT_ERR_INVALID_ARG, [&] { m.set_inner_lr(NAN); }, "set_inner_lr(NaN)");
    tap_ok(m.inner_lr() == TTT_DEFAULT_INNER_LR && m.stats().tokens_seen == N, "after the errors: eta and counters unchanged");

    // state: save, go on learning, load, and the replay matches
    m.reset();
    m.forward(in.data(), N / 2, out.data());
    const std::vector<unsigned char> st = m.save_state();
    std::vector<float> tail(in.begin() + N / 2 * D, in.end()), t1(tail.size()), t2(tail.size());
    m.forward(tail, t1);
    m.load_state(st);
    m.forward(tail, t2);
    tap_ok(st.size() == ttt_state_size(m.get()) && same(t1, t2) && std::memcmp(&t1[0], &ref[N / 2 * D], t1.size() * 4) == 0,
           "save_state (%zu bytes), load_state, replay == first run", st.size());
    std::vector<unsigned char> corrupt = st;
    corrupt[corrupt.size() / 2] ^= 1;
    throws(TTT_ERR_FORMAT, [&] { m.load_state(corrupt); }, "load_state of a corrupt state");
    ttt_config other = bitttt::default_config(D);
    other.seed = 7;
    bitttt::model m7(other);
    throws(TTT_ERR_MISMATCH, [&] { m7.load_state(st); }, "load_state into other projections");

    {
        const std::string path = state_path, missing = state_path + ".missing";
        m.load_state(st);
        m.save_file(path);
        m.forward(tail, t1);
        m.load_file(path);
        m.forward(tail, t2);
        tap_ok(same(t1, t2), "save_file, load_file, replay == first run");
        std::remove(missing.c_str());
        throws(TTT_ERR_IO, [&] { m.load_file(missing); }, "load_file of a missing file");
        std::remove(path.c_str());
    }

    {
        // an export of m7's projections makes a default-seed model compute m7's layer
        const std::string path = state_path + ".safetensors";
        bitttt::model fresh7(other), loaded(bitttt::default_config(D));
        try {
            fresh7.save_weights(path, "test_hpp");
            loaded.load_weights(path);
            std::vector<float> o1(in.size()), o2(in.size());
            fresh7.forward(in, o1);
            loaded.forward(in, o2);
            tap_ok(same(o1, o2), "save_weights, load_weights: the exporter's outputs");
            const unsigned char junk[16] = {8};
            throws(TTT_ERR_WEIGHTS, [&] { loaded.load_weights(junk, sizeof junk); }, "load_weights of junk bytes");
        } catch (const bitttt::error &e) {
            if (e.code() != TTT_ERR_UNSUPPORTED)
                throw;
            tap_skip("weight files: library built without json-c");
        }
        std::remove(path.c_str());
    }

    // ownership moves; the moved-from model holds nothing and refuses work
    bitttt::model moved(std::move(m));
    tap_ok(m.get() == nullptr && moved.get() != nullptr && moved.stats().tokens_seen > 0, "move: the state goes along");
    throws(TTT_ERR_INVALID_ARG, [&] { m.forward(in, out); }, "forward on a moved-from model");
    throws(TTT_ERR_INVALID_ARG, [&] { m.save_state(); }, "save_state on a moved-from model");
    m = std::move(moved);
    tap_ok(m.get() != nullptr && moved.get() == nullptr && m.hidden_dim() == D, "move assignment back");
    m = bitttt::model(8); // frees the old one (checked for leaks under ASan)
    tap_ok(m.hidden_dim() == 8, "move assignment over a live model");

    return tap_done();
}
