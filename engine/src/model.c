/* Model lifecycle, configuration and accessors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static size_t round_up(size_t v, size_t a)
{
    return (v + a - 1) / a * a;
}

void ttt_config_default(ttt_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->max_isa = TTT_ISA_AUTO;
    cfg->inner_lr = TTT_DEFAULT_INNER_LR;
    cfg->learning = 1;
    cfg->seed = TTT_DEFAULT_SEED;
}

static int valid_lr(float lr)
{
    return isfinite(lr) && lr >= 0.0f && lr <= 2.0f;
}

/* The 1.1 fields (docs/SPEC.md, "Objectives"). A key with magnitude (only
 * RECONSTRUCT without normalisation) makes the gradient step unstable for
 * eta ||k||^2 > 2, so that combination needs NLMS. */
static int valid_objective(const ttt_config *cfg)
{
    if (cfg->objective > TTT_OBJECTIVE_NEXT || cfg->feature_norm > TTT_FEATURE_NORM_NONE ||
        cfg->update > TTT_UPDATE_NLMS)
        return 0;
    if (!isfinite(cfg->forget) || cfg->forget < 0.0f || cfg->forget >= 1.0f)
        return 0;
    if (cfg->residual && cfg->objective != TTT_OBJECTIVE_MULTIVIEW)
        return 0;
    if (cfg->objective == TTT_OBJECTIVE_RECONSTRUCT && cfg->feature_norm == TTT_FEATURE_NORM_NONE &&
        cfg->update != TTT_UPDATE_NLMS)
        return 0;
    return 1;
}

void ttt_destroy(void *model)
{
    ttt_model *m = model;
    if (!m)
        return;
    ttt_aligned_free(m->down);
    ttt_aligned_free(m->up);
    ttt_aligned_free(m->src_down);
    ttt_aligned_free(m->src_up);
    ttt_aligned_free(m->W);
    ttt_aligned_free(m->pend_c);
    ttt_aligned_free(m->pend_f);
    ttt_aligned_free(m->prev);
    ttt_aligned_free(m->ck);
    ttt_aligned_free(m->cc);
    ttt_aligned_free(m->kb);
    ttt_aligned_free(m->xb);
    ttt_aligned_free(m->pb);
    ttt_aligned_free(m->q);
    ttt_aligned_free(m->qsum);
    ttt_aligned_free(m->acc_down);
    ttt_aligned_free(m->qp);
    ttt_aligned_free(m->qpsum);
    ttt_aligned_free(m->acc_up);
    ttt_aligned_free(m->f);
    ttt_aligned_free(m->v);
    ttt_aligned_free(m->p);
    free(m);
}

/* Allocate an n x size array, zeroed, or fail on overflow. */
static int alloc_array(void **p, size_t n, size_t size)
{
    size_t bytes;
    if (ttt_mul_size(n, size, &bytes))
        return TTT_ERR_OVERFLOW;
    *p = ttt_aligned_alloc(bytes);
    if (!*p)
        return TTT_ERR_NOMEM;
    memset(*p, 0, bytes);
    return TTT_OK;
}

int ttt_draw_projections(const ttt_model *m, uint8_t **down, uint8_t **up)
{
    int err;
    *down = *up = NULL;
    if ((err = alloc_array((void **)down, m->nd, m->Dq)) ||
        (err = alloc_array((void **)up, m->D, m->dq))) {
        ttt_aligned_free(*down);
        *down = NULL;
        return err;
    }
    ttt_ternary_fill(*down, m->d, m->D, m->Dq, m->cfg.seed, 0);
    ttt_ternary_fill(*up, m->D, m->d, m->dq, m->cfg.seed, 1);
    if (m->nd > m->d)
        ttt_ternary_fill(*down + m->d * m->Dq, m->d, m->D, m->Dq, m->cfg.seed, 2);
    return TTT_OK;
}

/* SPEC "Projections": each projection roughly preserves variance */
static float seed_scale(size_t n)
{
    return (float)sqrt(1.5 / (double)n);
}

static void put_f32(unsigned char *p, float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(b >> (8 * i));
}

void ttt_install_projections(ttt_model *m, const uint8_t *down, const uint8_t *up,
                             float s_down, float s_up, float s_down_v)
{
    const size_t D = m->D, d = m->d;
    /* Down, Up, then Down_v: without Down_v the hash is the original one.
     * The scales join it only when they are not the seed-drawn ones, so the
     * hash of every seed-drawn model stays what states already hold, and a
     * weight file exported from a seed-drawn model is that same model. */
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    h = ttt_fnv1a64(h, down, d * m->Dq);
    h = ttt_fnv1a64(h, up, D * m->dq);
    h = ttt_fnv1a64(h, down + d * m->Dq, (m->nd - d) * m->Dq);
    const float s0 = seed_scale(D), s1 = seed_scale(d);
    if (s_down != s0 || s_up != s1 || (m->nd > d && s_down_v != s0)) {
        unsigned char b[12];
        put_f32(b, s_down);
        put_f32(b + 4, s_up);
        put_f32(b + 8, s_down_v);
        h = ttt_fnv1a64(h, b, m->nd > d ? 12 : 8);
    }
    m->proj_hash = h;
    m->s_down = s_down;
    m->s_up = s_up;
    m->s_down_v = m->nd > d ? s_down_v : s_down;
    /* the kernels read their own layout of the same weights */
    m->k->tpack(down, m->Dq, m->nd, D, m->down);
    m->kup->tpack(up, m->dq, D, d, m->up);
}

int ttt_create_ex(const ttt_config *cfg, ttt_model **out)
{
    if (!out)
        return TTT_ERR_INVALID_ARG;
    *out = NULL;
    if (!cfg || cfg->struct_size < TTT_CONFIG_SIZE_1_0)
        return TTT_ERR_INVALID_ARG;
    /* a caller built against an older header passes a shorter struct: the
     * fields it does not know keep their defaults */
    ttt_config full;
    ttt_config_default(&full);
    memcpy(&full, cfg, cfg->struct_size < sizeof full ? cfg->struct_size : sizeof full);
    cfg = &full;
    const size_t D = cfg->hidden_dim;
    const size_t d = cfg->state_dim ? cfg->state_dim : D / 4;
    if (D < 4 || D % 4 != 0 || D > TTT_MAX_HIDDEN_DIM || d < 1 || d > TTT_MAX_STATE_DIM)
        return TTT_ERR_INVALID_ARG;
    if (!valid_lr(cfg->inner_lr) || cfg->max_isa > TTT_ISA_NEON_DOTPROD || cfg->dispatch > TTT_DISPATCH_ISA ||
        !valid_objective(cfg))
        return TTT_ERR_INVALID_ARG;

    ttt_model *m = calloc(1, sizeof *m);
    if (!m)
        return TTT_ERR_NOMEM;
    m->cfg = *cfg;
    m->cfg.struct_size = sizeof(ttt_config);
    m->cfg.state_dim = d;
    m->cfg.learning = cfg->learning != 0;
    m->cfg.residual = cfg->residual != 0;
    if (cfg->feature_norm == TTT_FEATURE_NORM_AUTO)
        m->cfg.feature_norm = cfg->objective == TTT_OBJECTIVE_RECONSTRUCT ? TTT_FEATURE_NORM_L2
                                                                         : TTT_FEATURE_NORM_NONE;
    m->val_mag = m->cfg.feature_norm == TTT_FEATURE_NORM_NONE;
    m->key_mag = m->val_mag && cfg->objective == TTT_OBJECTIVE_RECONSTRUCT;
    m->decay = 1.0f - cfg->forget;
    m->ident = cfg->objective | (m->val_mag ? TTT_IDENT_MAGNITUDE : 0u) |
               (m->cfg.residual ? TTT_IDENT_RESIDUAL : 0u);
    m->nd = cfg->objective == TTT_OBJECTIVE_MULTIVIEW ? 2 * d : d;
    m->D = D;
    m->d = d;
    m->Dq = round_up(D, TTT_ALIGN);
    /* tgemm reads the tokens of a block, and writes their sums, at these
     * strides: a multiple of 2 KiB piles the 32 rows into one or two L1 sets
     * (measured: tgemm 1.4x faster at D = 4096 with the extra line) */
    m->qs = m->Dq % 2048 ? m->Dq : m->Dq + TTT_ALIGN;
    m->as = m->nd * sizeof(int32_t) % 2048 ? m->nd : m->nd + TTT_ALIGN / sizeof(int32_t);
    m->dq = round_up(d, TTT_ALIGN);
    m->ws = ttt_w_stride(d);
    m->k = ttt_kernels_dispatch(cfg->max_isa, cfg->dispatch == TTT_DISPATCH_MEASURE, D, d, m->nd, &m->kup);

    int err;
    uint8_t *down = NULL, *up = NULL;
    if ((err = ttt_draw_projections(m, &down, &up)) ||
        (err = alloc_array((void **)&m->down, m->k->tpack_size(m->nd, D), 1)) ||
        (err = alloc_array((void **)&m->up, m->kup->tpack_size(D, d), 1)) ||
        (err = alloc_array((void **)&m->W, d, m->ws * sizeof(float))) ||
        (err = alloc_array((void **)&m->pend_c, d, sizeof(float))) ||
        (err = alloc_array((void **)&m->pend_f, d, sizeof(float))) ||
        (err = alloc_array((void **)&m->q, TTT_BLOCK, m->qs)) ||
        (err = alloc_array((void **)&m->qsum, TTT_BLOCK, sizeof(int32_t))) ||
        (err = alloc_array((void **)&m->prev, d, sizeof(float))) ||
        (err = alloc_array((void **)&m->acc_down, TTT_BLOCK, m->as * sizeof(int32_t))) ||
        (err = alloc_array((void **)&m->qp, TTT_BLOCK, m->dq)) ||
        (err = alloc_array((void **)&m->qpsum, TTT_BLOCK, sizeof(int32_t))) ||
        (err = alloc_array((void **)&m->acc_up, TTT_BLOCK, ttt_acc_stride(D) * sizeof(int32_t))) ||
        (err = alloc_array((void **)&m->f, d, sizeof(float))) ||
        (err = alloc_array((void **)&m->v, d, sizeof(float))) ||
        (err = alloc_array((void **)&m->p, d, sizeof(float))) ||
        /* the block's keys, targets and predictions: learn_run's and the chunk's */
        (d >= TTT_RUN_MIN_D &&
         ((err = alloc_array((void **)&m->kb, TTT_BLOCK, m->ws * sizeof(float))) ||
          (err = alloc_array((void **)&m->xb, TTT_BLOCK, m->ws * sizeof(float))) ||
          (err = alloc_array((void **)&m->pb, TTT_BLOCK, m->ws * sizeof(float))))) ||
        (d >= TTT_CHUNK_MIN_D &&
         ((err = alloc_array((void **)&m->ck, TTT_CHUNK, m->ws * sizeof(float))) ||
          (err = alloc_array((void **)&m->cc, TTT_CHUNK, m->ws * sizeof(float)))))) {
        ttt_aligned_free(down);
        ttt_aligned_free(up);
        ttt_destroy(m);
        return err;
    }
    m->chunked = d >= TTT_CHUNK_MIN_D;
    ttt_install_projections(m, down, up, seed_scale(D), seed_scale(d), seed_scale(D));
    ttt_aligned_free(down);
    ttt_aligned_free(up);
    *out = m;
    return TTT_OK;
}

void *ttt_create(size_t hidden_dim, float inner_lr)
{
    ttt_config cfg;
    ttt_model *m;
    ttt_config_default(&cfg);
    cfg.hidden_dim = hidden_dim;
    cfg.inner_lr = inner_lr;
    return ttt_create_ex(&cfg, &m) == TTT_OK ? m : NULL;
}

int ttt_reset(ttt_model *m)
{
    if (!m)
        return TTT_ERR_INVALID_ARG;
    memset(m->W, 0, m->d * m->ws * sizeof(float));
    memset(m->prev, 0, m->d * sizeof(float));
    m->pending = 0;
    m->chunk_n = 0;
    m->wnorm = 0.0;
    memset(&m->stats, 0, sizeof m->stats);
    return TTT_OK;
}

int ttt_set_inner_lr(ttt_model *m, float lr)
{
    if (!m || !valid_lr(lr))
        return TTT_ERR_INVALID_ARG;
    m->cfg.inner_lr = lr;
    return TTT_OK;
}

float ttt_get_inner_lr(const ttt_model *m)
{
    return m ? m->cfg.inner_lr : NAN;
}

int ttt_set_learning(ttt_model *m, int learning)
{
    if (!m)
        return TTT_ERR_INVALID_ARG;
    m->cfg.learning = learning != 0;
    return TTT_OK;
}

int ttt_get_learning(const ttt_model *m)
{
    return m ? m->cfg.learning : 0;
}

int ttt_get_config(const ttt_model *m, ttt_config *cfg)
{
    if (!m || !cfg || cfg->struct_size < TTT_CONFIG_SIZE_1_0)
        return TTT_ERR_INVALID_ARG;
    const uint32_t size = cfg->struct_size < sizeof *cfg ? cfg->struct_size : (uint32_t)sizeof *cfg;
    memcpy(cfg, &m->cfg, size);
    cfg->struct_size = size;
    return TTT_OK;
}

int ttt_get_stats(const ttt_model *m, ttt_stats *stats)
{
    if (!m || !stats)
        return TTT_ERR_INVALID_ARG;
    *stats = m->stats;
    return TTT_OK;
}

const char *ttt_get_kernel_name(const ttt_model *m)
{
    return m ? m->k->name : "none";
}
