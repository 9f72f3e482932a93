/*
 * libbitttt for C++17: a header-only RAII layer over <bitttt/bitttt.h>.
 *
 *     #include <bitttt/bitttt.hpp>      // link with -lbitttt (pkg-config bitttt)
 *     bitttt::model m(128);              // or bitttt::model(cfg) from bitttt::default_config(128)
 *     std::vector<float> x(10 * 128), y(x.size()), s(10);
 *     m.forward(x, y, s);                // 10 tokens, their surprise in s
 *
 * No maths lives here: every call goes to the C library, whose rules apply
 * unchanged (docs/SPEC.md, bitttt.h).
 *
 * Ownership: a bitttt::model owns its ttt_model and frees it in its
 * destructor. It is move-only; a moved-from model holds nothing, and any
 * call on it other than destruction, assignment and get() throws
 * bitttt::error with TTT_ERR_INVALID_ARG.
 *
 * Threading: the C library's rule. One thread at a time per model (the
 * const members too); distinct models are independent. The free functions
 * are thread-safe.
 *
 * Errors: every failing call throws bitttt::error, which carries the
 * engine's ttt_error code and its ttt_strerror() text. A failed call leaves
 * the model as it was. Only the calls that return the state as a vector, or
 * take a path as a std::string, allocate; forward() never does.
 */
#ifndef BITTTT_BITTTT_HPP
#define BITTTT_BITTTT_HPP

#include <bitttt/bitttt.h>

#include <cstddef>
#include <iterator>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace bitttt {

/** A failed engine call: code() is the ttt_error, what() names the call and ttt_strerror(code). */
class error : public std::runtime_error {
public:
    error(int code, const std::string &where)
        : std::runtime_error(where + ": " + ttt_strerror(code)), code_(code)
    {
    }
    /** The engine's ttt_error value (negative). */
    int code() const noexcept { return code_; }

private:
    int code_;
};

namespace detail {

inline void check(int rc, const char *where)
{
    if (rc != TTT_OK)
        throw error(rc, where);
}

// A contiguous range of floats: anything std::data() and std::size() take
// (std::vector<float>, std::array, C arrays, std::span in C++20).
template <class C>
using data_t = std::remove_pointer_t<decltype(std::data(std::declval<C &>()))>;

template <class C, class = void>
struct is_floats : std::false_type {};
template <class C>
struct is_floats<C, std::void_t<data_t<C>, decltype(std::size(std::declval<C &>()))>>
    : std::is_same<std::remove_const_t<data_t<C>>, float> {};

template <class C, class = void>
struct is_mutable_floats : std::false_type {};
template <class C>
struct is_mutable_floats<C, std::enable_if_t<is_floats<C>::value>>
    : std::is_same<data_t<C>, float> {};

} // namespace detail

/** The defaults of ttt_config_default() with hidden_dim set; change fields, then build a model. */
inline ttt_config default_config(std::size_t hidden_dim)
{
    ttt_config cfg;
    ttt_config_default(&cfg);
    cfg.hidden_dim = hidden_dim;
    return cfg;
}

/** "MAJOR.MINOR.PATCH" of the library actually loaded. */
inline const char *version() noexcept { return ttt_version_string(); }

/** Best ISA of this CPU, capped by TTT_FORCE_ISA. */
inline ttt_isa cpu_isa() noexcept { return ttt_cpu_isa(); }

/** One Bit-TTT layer with its learned state. Move-only. */
class model {
public:
    /** The original ttt_create(): default configuration, D = hidden_dim. */
    explicit model(std::size_t hidden_dim, float inner_lr = TTT_DEFAULT_INNER_LR)
        : model(with_lr(default_config(hidden_dim), inner_lr))
    {
    }

    /** ttt_create_ex(): any configuration. Throws bitttt::error for a bad field. */
    explicit model(const ttt_config &cfg)
    {
        detail::check(ttt_create_ex(&cfg, &m_), "ttt_create_ex");
        dim_ = cfg.hidden_dim; // validated, never resolved: the model's D
    }

    model(const model &) = delete;
    model &operator=(const model &) = delete;
    model(model &&o) noexcept : m_(std::exchange(o.m_, nullptr)), dim_(std::exchange(o.dim_, 0)) {}
    model &operator=(model &&o) noexcept
    {
        if (this != &o) {
            ttt_destroy(m_);
            m_ = std::exchange(o.m_, nullptr);
            dim_ = std::exchange(o.dim_, 0);
        }
        return *this;
    }
    ~model() { ttt_destroy(m_); }

    /** The C handle, still owned by this object (nullptr once moved from). */
    ttt_model *get() const noexcept { return m_; }

    /** D, the floats in one token. */
    std::size_t hidden_dim() const
    {
        live();
        return dim_;
    }

    /**
     * ttt_forward_ex(): n_tokens tokens of hidden_dim() floats, row-major.
     * out may equal in (in place); surprise (n_tokens floats) may be nullptr.
     */
    void forward(const float *in, std::size_t n_tokens, float *out, float *surprise = nullptr)
    {
        detail::check(ttt_forward_ex(m_, in, n_tokens, out, surprise), "ttt_forward_ex");
    }

    /**
     * forward() over containers of floats (vector, array, C array, span):
     * in holds whole tokens, out the same number of floats (it may be in),
     * and surprise, when given, one float per token. Returns the tokens run.
     */
    template <class In, class Out,
              class = std::enable_if_t<detail::is_floats<In>::value && detail::is_mutable_floats<Out>::value>>
    std::size_t forward(const In &in, Out &&out)
    {
        const std::size_t n = tokens(in, out);
        forward(std::data(in), n, std::data(out));
        return n;
    }

    template <class In, class Out, class Surprise,
              class = std::enable_if_t<detail::is_floats<In>::value && detail::is_mutable_floats<Out>::value &&
                                       detail::is_mutable_floats<Surprise>::value>>
    std::size_t forward(const In &in, Out &&out, Surprise &&surprise)
    {
        const std::size_t n = tokens(in, out);
        if (std::size(surprise) != n)
            throw error(TTT_ERR_INVALID_ARG, "bitttt::model::forward: surprise must hold one float per token");
        forward(std::data(in), n, std::data(out), std::data(surprise));
        return n;
    }

    /** Forget what was learned (W = 0, counters 0); the projections stay. */
    void reset() { detail::check(ttt_reset(m_), "ttt_reset"); }

    void set_inner_lr(float eta) { detail::check(ttt_set_inner_lr(m_, eta), "ttt_set_inner_lr"); }
    float inner_lr() const
    {
        live();
        return ttt_get_inner_lr(m_);
    }
    void set_learning(bool on) { detail::check(ttt_set_learning(m_, on ? 1 : 0), "ttt_set_learning"); }
    bool learning() const
    {
        live();
        return ttt_get_learning(m_) != 0;
    }

    /** The effective configuration (state_dim and feature_norm resolved). */
    ttt_config config() const
    {
        ttt_config cfg = default_config(0);
        detail::check(ttt_get_config(m_, &cfg), "ttt_get_config");
        return cfg;
    }
    ttt_stats stats() const
    {
        ttt_stats st{};
        detail::check(ttt_get_stats(m_, &st), "ttt_get_stats");
        return st;
    }
    /** "scalar", "avx2", "avx2-vnni", "avx512", "avx512-vnni", "neon" or "neon-dotprod" (one table), or the table per slot. */
    const char *kernel_name() const
    {
        live();
        return ttt_get_kernel_name(m_);
    }

    /** ttt_state_save() into a new vector of exactly ttt_state_size() bytes. */
    std::vector<unsigned char> save_state()
    {
        std::vector<unsigned char> buf(ttt_state_size(live()));
        std::size_t written = 0;
        detail::check(ttt_state_save(m_, buf.data(), buf.size(), &written), "ttt_state_save");
        buf.resize(written);
        return buf;
    }
    /** ttt_state_load(): validated first; on any error the model is unchanged. */
    void load_state(const void *buf, std::size_t len)
    {
        detail::check(ttt_state_load(m_, buf, len), "ttt_state_load");
    }
    void load_state(const std::vector<unsigned char> &buf) { load_state(buf.data(), buf.size()); }

    /** ttt_state_save_file(): atomic replace of path. */
    void save_file(const std::string &path)
    {
        detail::check(ttt_state_save_file(m_, path.c_str()), "ttt_state_save_file");
    }
    void load_file(const std::string &path)
    {
        detail::check(ttt_state_load_file(m_, path.c_str()), "ttt_state_load_file");
    }

    /** ttt_load_weights(): the projections of a weight file; W is reset. */
    void load_weights(const std::string &path)
    {
        detail::check(ttt_load_weights(m_, path.c_str()), "ttt_load_weights");
    }
    /** ttt_load_weights_mem(): the same from the file's bytes. */
    void load_weights(const void *buf, std::size_t len)
    {
        detail::check(ttt_load_weights_mem(m_, buf, len), "ttt_load_weights_mem");
    }
    /** ttt_save_weights(): the projections as a weight file. */
    void save_weights(const std::string &path, const std::string &training_data = std::string()) const
    {
        detail::check(ttt_save_weights(m_, path.c_str(), training_data.c_str()), "ttt_save_weights");
    }

private:
    static ttt_config with_lr(ttt_config cfg, float inner_lr)
    {
        cfg.inner_lr = inner_lr;
        return cfg;
    }

    ttt_model *live() const
    {
        if (!m_)
            throw error(TTT_ERR_INVALID_ARG, "bitttt::model: moved-from model");
        return m_;
    }

    template <class In, class Out>
    std::size_t tokens(const In &in, const Out &out) const
    {
        const std::size_t d = hidden_dim();
        if (std::size(in) % d != 0 || std::size(out) != std::size(in))
            throw error(TTT_ERR_INVALID_ARG,
                        "bitttt::model::forward: input must hold whole tokens and output as many floats");
        return std::size(in) / d;
    }

    ttt_model *m_ = nullptr;
    std::size_t dim_ = 0;
};

} // namespace bitttt

#endif /* BITTTT_BITTTT_HPP */
