/*
 * libbitttt: the Bit-TTT layer (BitNet b1.58 projections + test-time training).
 *
 * The only installed header of the library. Everything here is the public,
 * stable API; internals live in engine/src and are not reachable from outside.
 *
 * Threading: a model is owned by one thread at a time. Every function that
 * takes a model may be called from any thread, but never concurrently on the
 * same model (serialise with your own lock if you share one). Distinct models
 * are fully independent and may be driven from different threads at once.
 * Functions that take no model (version, strerror, config defaults, CPU
 * queries) are thread-safe.
 *
 * Errors: functions returning int return TTT_OK (0) or a negative ttt_error.
 * A failed call leaves the model exactly as it was.
 *
 * The algorithm is specified in docs/SPEC.md.
 */
#ifndef BITTTT_BITTTT_H
#define BITTTT_BITTTT_H

#include <stddef.h>
#include <stdint.h>

#define TTT_VERSION_MAJOR 1
#define TTT_VERSION_MINOR 2
#define TTT_VERSION_PATCH 0
#define TTT_VERSION_INT(maj, min, pat) (((maj) << 16) | ((min) << 8) | (pat))
#define TTT_VERSION TTT_VERSION_INT(TTT_VERSION_MAJOR, TTT_VERSION_MINOR, TTT_VERSION_PATCH)

#if defined(_WIN32) || defined(__CYGWIN__)
#  if defined(TTT_BUILDING_LIBRARY)
#    define TTT_API __declspec(dllexport)
#  else
#    define TTT_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define TTT_API __attribute__((visibility("default")))
#else
#  define TTT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Error codes. The values are fixed forever; new codes get new values. */
typedef enum ttt_error {
    TTT_OK = 0,
    TTT_ERR_INVALID_ARG = -1, /**< NULL pointer, zero count, value out of range */
    TTT_ERR_NOMEM = -2,       /**< allocation failed */
    TTT_ERR_OVERFLOW = -3,    /**< a size computation would overflow size_t */
    TTT_ERR_IO = -4,          /**< open/read/write/fsync/rename failed (see errno) */
    TTT_ERR_FORMAT = -5,      /**< state data truncated, corrupt or bad checksum */
    TTT_ERR_VERSION = -6,     /**< state or weight file format version not supported */
    TTT_ERR_MISMATCH = -7,    /**< state belongs to another shape or projections */
    TTT_ERR_BUFFER_SMALL = -8, /**< caller's buffer too small; size reported */
    TTT_ERR_UNSUPPORTED = -9, /**< not in this build (weight files need json-c) */
    TTT_ERR_WEIGHTS = -10,    /**< weight file malformed: header, tensor, value or scale */
    TTT_ERR_WEIGHTS_MISMATCH = -11 /**< weight file is for another shape or objective */
} ttt_error;

/**
 * Instruction set levels for the kernels, lowest first within each
 * architecture (x86-64: AVX2 < AVX512; aarch64: NEON < NEON_DOTPROD). A cap
 * naming another architecture's level does not limit this one; SCALAR caps
 * every architecture.
 */
typedef enum ttt_isa {
    TTT_ISA_AUTO = 0,        /**< best the CPU supports (the default) */
    TTT_ISA_SCALAR = 1,      /**< portable C, the reference */
    TTT_ISA_AVX2 = 2,        /**< AVX2 + FMA */
    TTT_ISA_AVX512 = 3,      /**< AVX-512 F/BW/VL, with VNNI when present */
    TTT_ISA_NEON = 4,        /**< aarch64 Advanced SIMD (Armv8.0, every aarch64 CPU) */
    TTT_ISA_NEON_DOTPROD = 5 /**< aarch64 Advanced SIMD with SDOT/UDOT (Armv8.2 dotprod) */
} ttt_isa;

/** Limits on the shape; larger values are rejected with TTT_ERR_INVALID_ARG. */
#define TTT_MAX_HIDDEN_DIM ((size_t)1 << 16)
#define TTT_MAX_STATE_DIM ((size_t)1 << 14)

/**
 * Model configuration. Always initialise with ttt_config_default() and then
 * change fields: new fields are appended in later versions, and struct_size
 * tells the library which version of the struct the caller was built with.
 */
typedef struct ttt_config {
    uint32_t struct_size; /**< sizeof(ttt_config); set by ttt_config_default() */
    uint32_t max_isa;     /**< a ttt_isa: cap on the kernels (AUTO = best) */
    size_t hidden_dim;    /**< D: token width, a multiple of 4, >= 4 */
    size_t state_dim;     /**< d: width of W; 0 = D / 4 */
    float inner_lr;       /**< eta in [0, 2]; default 0.01 */
    int learning;         /**< non-zero: W learns from every token; default 1 */
    uint64_t seed;        /**< projection initialisation; default TTT_DEFAULT_SEED */

    /* Fields below were added in 1.1: a caller built against 1.0 passes a
     * smaller struct_size and gets their defaults, the original objective.
     * docs/SPEC.md ("Objectives") states them; docs/MEMORY.md says when
     * each one helps. Invalid values make ttt_create_ex() fail with
     * TTT_ERR_INVALID_ARG. ttt_get_config() reports feature_norm resolved
     * (never AUTO). objective, feature_norm and residual change what W
     * means, so a saved state only loads into a model that agrees on them;
     * update and forget are tunable settings, not saved. */
    uint32_t objective;    /**< a ttt_objective; default RECONSTRUCT (the original) */
    uint32_t feature_norm; /**< a ttt_feature_norm: the target's magnitude; default AUTO */
    uint32_t update;       /**< a ttt_update; default GRADIENT. RECONSTRUCT with
                                feature_norm NONE requires NLMS */
    float forget;          /**< alpha, finite, in [0, 1): W <- (1 - alpha) W - step
                                for every learned token; default 0 */
    int residual;          /**< MULTIVIEW only: non-zero predicts v - k instead of v */

    /* Added in 1.2; a shorter struct_size gets the default. */
    uint32_t dispatch;     /**< a ttt_dispatch: how the kernels are chosen; default MEASURE */
} ttt_config;

/** Size of the 1.0 ttt_config, the smallest struct_size accepted. */
#define TTT_CONFIG_SIZE_1_0 (offsetof(ttt_config, seed) + sizeof(uint64_t))

/**
 * How ttt_create_ex() picks the kernels among those the CPU runs under
 * max_isa (docs/PERFORMANCE.md, "Dispatch"). Every choice gives the same
 * results bit for bit; only the speed differs. The environment variable
 * TTT_DISPATCH=isa turns measurement off for every model of the process.
 */
typedef enum ttt_dispatch {
    TTT_DISPATCH_MEASURE = 0, /**< per kernel, the fastest on the model's shapes,
                                   timed once per shape and process (default) */
    TTT_DISPATCH_ISA = 1      /**< the whole table of the best ISA, untimed:
                                   reproducible profiles */
} ttt_dispatch;

/** What W learns to predict (docs/SPEC.md, "Objectives"). */
typedef enum ttt_objective {
    TTT_OBJECTIVE_RECONSTRUCT = 0, /**< W f -> f: the token's own feature (original) */
    TTT_OBJECTIVE_MULTIVIEW = 1,   /**< W k -> v: key and value from two projections */
    TTT_OBJECTIVE_NEXT = 2         /**< W k[t-1] -> v[t]: predict the next token */
} ttt_objective;

/**
 * Whether the target (the value W learns to produce) keeps its magnitude.
 * Keys are always unit length, except for RECONSTRUCT with NONE, where the
 * key is the target itself.
 */
typedef enum ttt_feature_norm {
    TTT_FEATURE_NORM_AUTO = 0, /**< L2 for RECONSTRUCT, NONE for MULTIVIEW and NEXT */
    TTT_FEATURE_NORM_L2 = 1,   /**< unit length, as the original */
    TTT_FEATURE_NORM_NONE = 2  /**< the dequantised projection, magnitude kept */
} ttt_feature_norm;

/** The learning step; both are stable for eta in [0, 2] (GRADIENT: for unit keys). */
typedef enum ttt_update {
    TTT_UPDATE_GRADIENT = 0, /**< W -= eta e k^T (original) */
    TTT_UPDATE_NLMS = 1      /**< W -= eta e k^T / (||k||^2 + 1e-6) */
} ttt_update;

#define TTT_DEFAULT_SEED UINT64_C(0x42177755)
#define TTT_DEFAULT_INNER_LR 0.01f

/** Counters since creation or the last ttt_reset(). */
typedef struct ttt_stats {
    uint64_t tokens_seen;    /**< every token passed to forward */
    uint64_t tokens_skipped; /**< tokens holding NaN or Inf: not learned */
} ttt_stats;

/** Opaque model handle. */
typedef struct ttt_model ttt_model;

/* ------------------------------------------------------------------------ */
/* The original ABI: these three functions keep their exact signatures.     */

/**
 * Create a model with the default configuration, hidden_dim D and inner_lr.
 * Returns NULL on invalid arguments (see ttt_config) or allocation failure.
 * The caller owns the model and frees it with ttt_destroy().
 */
TTT_API void *ttt_create(size_t hidden_dim, float inner_lr);

/**
 * Run seq_len tokens through the layer, learning from each in order.
 * input and output are row-major seq_len x hidden_dim floats; output may be
 * the same pointer as input (in place) but must not otherwise overlap it.
 * Returns TTT_OK or a negative ttt_error; on error nothing was processed.
 */
TTT_API int ttt_forward(void *model, const float *input, size_t seq_len, float *output);

/** Free a model made by ttt_create() or ttt_create_ex(). NULL is a no-op. */
TTT_API void ttt_destroy(void *model);

/* ------------------------------------------------------------------------ */
/* Extended API.                                                             */

/** Fill cfg with the defaults (D = 0: the caller must set hidden_dim). */
TTT_API void ttt_config_default(ttt_config *cfg);

/**
 * Create a model from cfg. On success *out holds a new model owned by the
 * caller (free with ttt_destroy()) and TTT_OK is returned; on failure *out is
 * set to NULL. TTT_ERR_INVALID_ARG for a bad field, TTT_ERR_NOMEM,
 * TTT_ERR_OVERFLOW.
 */
TTT_API int ttt_create_ex(const ttt_config *cfg, ttt_model **out);

/**
 * Like ttt_forward(), and writes each token's surprise (the error of the
 * prediction made before learning that token, ||p - target||^2 / d; the
 * target is the objective's, f for the original) into
 * surprise[0..seq_len-1] when surprise is not NULL. A token holding NaN or
 * Inf is not learned; its output is its input and its surprise is NaN.
 */
TTT_API int ttt_forward_ex(ttt_model *model, const float *input, size_t seq_len,
                           float *output, float *surprise);

/** Forget everything learned: W = 0 (and NEXT's previous key), counters 0. Projections are kept. */
TTT_API int ttt_reset(ttt_model *model);

/** Set eta; TTT_ERR_INVALID_ARG unless finite and in [0, 2]. */
TTT_API int ttt_set_inner_lr(ttt_model *model, float inner_lr);
/** Current eta; NaN for a NULL model. */
TTT_API float ttt_get_inner_lr(const ttt_model *model);
/** Turn learning on (non-zero) or off. Off: W is frozen, tokens still transform. */
TTT_API int ttt_set_learning(ttt_model *model, int learning);
/** 1 if learning, 0 if not or model is NULL. */
TTT_API int ttt_get_learning(const ttt_model *model);

/**
 * Copy the model's effective configuration (state_dim resolved) into cfg.
 * cfg->struct_size must be set first (ttt_config_default() does): only that
 * many bytes are written, so callers built against an older header are safe.
 */
TTT_API int ttt_get_config(const ttt_model *model, ttt_config *cfg);
/** Copy the counters into stats. */
TTT_API int ttt_get_stats(const ttt_model *model, ttt_stats *stats);

/**
 * Name of the kernels in use: one table's name ("scalar", "avx2", "avx2-vnni",
 * "avx512", "avx512-vnni", "neon", "neon-dotprod") when every kernel comes from it, else the choice per slot,
 * e.g. "quantize_block=avx512 tgemm=avx512-vnni tgemm_residual=avx2 ...",
 * ending in " learn_run=none" when the measurement found the recurrence
 * faster token by token than a block at a time (below d = 512).
 * The string is static (lives for the process); "none" for NULL.
 */
TTT_API const char *ttt_get_kernel_name(const ttt_model *model);

/**
 * Best ISA this CPU and OS support, after the TTT_FORCE_ISA environment
 * variable (scalar|avx2|avx512|neon|neon-dotprod) is applied as a cap.
 * Thread-safe.
 */
TTT_API ttt_isa ttt_cpu_isa(void);

/* ---- State persistence (format in docs/SPEC.md) ---- */

/** Bytes needed by ttt_state_save() for this model. 0 for NULL. */
TTT_API size_t ttt_state_size(const ttt_model *model);

/**
 * Serialise the learned state into buf (capacity cap bytes). *written gets
 * the size (also on TTT_ERR_BUFFER_SMALL, so callers can size a buffer).
 * written may be NULL. Applies any pending update to W first; outputs are
 * unaffected.
 */
TTT_API int ttt_state_save(ttt_model *model, void *buf, size_t cap, size_t *written);

/**
 * Replace the learned state with the one in buf. Everything is validated
 * before anything changes: TTT_ERR_FORMAT (truncated, corrupt, bad checksum,
 * non-finite values), TTT_ERR_VERSION, TTT_ERR_MISMATCH (other shape or
 * projections); on any error the model is untouched.
 */
TTT_API int ttt_state_load(ttt_model *model, const void *buf, size_t len);

/**
 * Save the state to path atomically: a temporary file beside it is written,
 * fsynced and renamed over path, so path holds either the old or the new
 * complete state even after a crash. TTT_ERR_IO on failure; the old file
 * is left as it was. Allocates.
 * Windows: path is UTF-8, as the bindings pass it (not the ANSI code page
 * of fopen()); one that is not valid UTF-8 fails with TTT_ERR_IO. The
 * temporary file is flushed with _commit and moved over path by MoveFileEx
 * (replace-existing, write-through). While another handle holds path open
 * without FILE_SHARE_DELETE the save fails with TTT_ERR_IO.
 */
TTT_API int ttt_state_save_file(ttt_model *model, const char *path);

/** Load a file written by ttt_state_save_file(); same rules as ttt_state_load(). Windows: path is UTF-8. */
TTT_API int ttt_state_load_file(ttt_model *model, const char *path);

/* ---- Weight files (format in docs/SPEC.md, "Weight file") ---- */
/*
 * A model draws its projections from its seed. A weight file (safetensors:
 * int8 ternary Down, Up and, for MULTIVIEW, Down_v, each with an f32 scale)
 * replaces them, for example with projections trained offline
 * (docs/TRAINING.md). Loading resets the learned state like ttt_reset():
 * W learned with other projections means nothing with these. The
 * projection hash a state records then identifies the loaded projections,
 * so a state learned with them loads only into a model holding the same
 * ones. ttt_get_config() still reports the seed, which a state also
 * records, so a model that loads a state must have the same seed too.
 * These functions follow the threading rule of every model function.
 * Without json-c in the build every one returns TTT_ERR_UNSUPPORTED.
 */

/**
 * Replace the projections with those of the weight file in buf[0..len).
 * The file is checked in this order: the header (TTT_ERR_WEIGHTS, or
 * TTT_ERR_VERSION for a format_version other than "1"), the header against
 * the model, whose hidden_dim, state_dim, objective, feature_norm (after
 * AUTO is resolved) and residual it must match (TTT_ERR_WEIGHTS_MISMATCH),
 * then the tensors (TTT_ERR_WEIGHTS: data outside or not filling the
 * buffer, an int8 value outside {-1, 0, 1}, a scale not finite in
 * (0, 65536]). Also TTT_ERR_INVALID_ARG (NULL model or buf), TTT_ERR_NOMEM,
 * TTT_ERR_UNSUPPORTED. On any error the model is untouched. buf is only
 * read during the call; the model keeps its own copy of the projections
 * (d x D bytes per matrix), which ttt_save_weights() writes back.
 */
TTT_API int ttt_load_weights_mem(ttt_model *model, const void *buf, size_t len);

/** ttt_load_weights_mem() on the file at path; TTT_ERR_IO if it cannot be read. */
TTT_API int ttt_load_weights(ttt_model *model, const char *path);

/**
 * Write the model's projections (seed-drawn or loaded) as a weight file at
 * path: a file beside it is written and renamed over path (not fsynced).
 * training_data is stored as the file's free-text description of what the
 * projections were trained on; NULL stores "". TTT_ERR_INVALID_ARG for a
 * NULL model or path, or training_data that is not UTF-8; TTT_ERR_IO,
 * TTT_ERR_NOMEM, TTT_ERR_UNSUPPORTED. Allocates. The model is unchanged.
 */
TTT_API int ttt_save_weights(const ttt_model *model, const char *path, const char *training_data);

/* ---- Misc ---- */

/** Static English message for an error code; never NULL. */
TTT_API const char *ttt_strerror(int err);
/** TTT_VERSION of the library actually loaded. */
TTT_API unsigned ttt_version(void);
/** "MAJOR.MINOR.PATCH" of the library actually loaded. */
TTT_API const char *ttt_version_string(void);

/* ------------------------------------------------------------------------ */
/* Anomaly score (docs/SPEC.md, "Anomaly score").                           */
/*
 * Turns the per-token surprise of ttt_forward_ex() into a score in [0, 1]
 * that means the same on every stream: surprise relative to its own running
 * mean, then an HTM-style anomaly likelihood (Ahmad et al. 2017) of the
 * short-term average of that, log-scaled; optionally 1 for a value outside
 * the range seen so far. Every score depends only on earlier tokens and the
 * present one. A ttt_anomaly follows the threading rule of a model: one
 * thread at a time per object, distinct objects independent.
 */

/** Anomaly scorer configuration: ttt_anomaly_config_default(), then change fields. */
typedef struct ttt_anomaly_config {
    uint32_t struct_size;  /**< sizeof(ttt_anomaly_config); set by the default */
    float k;               /**< K of a = s / (s + K m): finite, > 0; default 30 */
    uint32_t mean_window;  /**< running mean: cumulative, then EMA 1/window; >= 1, default 1000 */
    uint32_t short_window; /**< tokens averaged before scoring; 1 .. 2^24, default 10 */
    uint32_t long_window;  /**< averages the Gaussian is fitted to; 1 .. 2^24, default 2000 */
    uint32_t refit_every;  /**< tokens between fits; >= 1, default 100 */
    float range_margin;    /**< range rule margin, finite, >= 0; 0 (default) = off */
    /* added in 1.2: a shorter struct (TTT_ANOMALY_CONFIG_SIZE_1_1) gets hold = 0 */
    uint32_t hold;         /**< burst suppression: a score is 0 unless above the
                                last hold scores; 0 .. 2^24, 0 (default) = off */
} ttt_anomaly_config;

/** struct_size of a 1.1 ttt_anomaly_config (no hold): still accepted, hold = 0. */
#define TTT_ANOMALY_CONFIG_SIZE_1_1 (offsetof(ttt_anomaly_config, range_margin) + sizeof(float))

#define TTT_ANOMALY_DEFAULT_K 30.0f
#define TTT_ANOMALY_MAX_WINDOW ((uint32_t)1 << 24)

/** Opaque anomaly scorer. */
typedef struct ttt_anomaly ttt_anomaly;

/** Fill cfg with the defaults. Thread-safe; NULL is a no-op. */
TTT_API void ttt_anomaly_config_default(ttt_anomaly_config *cfg);

/**
 * Create a scorer from cfg (every field validated; the history rings are
 * allocated here, never later). On success *out holds a new scorer owned by
 * the caller (free with ttt_anomaly_destroy()) and TTT_OK is returned; on
 * failure *out is NULL. TTT_ERR_INVALID_ARG for a NULL pointer, a
 * struct_size below TTT_ANOMALY_CONFIG_SIZE_1_1 (fields past struct_size
 * take their defaults), or a field out of range; TTT_ERR_NOMEM.
 */
TTT_API int ttt_anomaly_create(const ttt_anomaly_config *cfg, ttt_anomaly **out);

/** Free a scorer. NULL is a no-op. */
TTT_API void ttt_anomaly_destroy(ttt_anomaly *a);

/** Forget all history: the next token is scored as the first one. */
TTT_API int ttt_anomaly_reset(ttt_anomaly *a);

/**
 * Score n tokens in order. surprise[i] is token i's surprise (from
 * ttt_forward_ex(): >= 0, or NaN for a skipped token). x holds the tokens'
 * values, n x width floats row-major, read only by the range rule: it may
 * be NULL when width == 0 or range_margin == 0. score[i] receives the
 * score, in [0, 1], or NaN for a skipped token (a non-finite surprise, or a
 * non-finite value in x when the range rule reads x), which changes no
 * statistic. calibrated, when not NULL, receives a_t = s / (s + K m) (NaN
 * for skipped tokens). Does not allocate. Results do not depend on how a
 * stream is split into calls.
 * TTT_ERR_INVALID_ARG for a NULL a, surprise or score, n == 0, a negative
 * surprise, or x NULL while the range rule needs it; TTT_ERR_OVERFLOW when
 * n * width overflows. On error nothing is written and the scorer is unchanged.
 */
TTT_API int ttt_anomaly_update(ttt_anomaly *a, const float *surprise, const float *x,
                               size_t width, size_t n, float *score, float *calibrated);

#ifdef __cplusplus
}
#endif

#endif /* BITTTT_BITTTT_H */
