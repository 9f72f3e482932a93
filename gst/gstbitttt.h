/*
 * bitttt: a Bit-TTT layer as a GStreamer in-place filter.
 */
#ifndef GST_BITTTT_H
#define GST_BITTTT_H

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

/**
 * GstBitTTTResetOn:
 * @GST_BITTTT_RESET_ON_FLUSH: a flush (seek, flushing step)
 * @GST_BITTTT_RESET_ON_STREAM_START: a stream-start event
 * @GST_BITTTT_RESET_ON_DISCONT: a buffer flagged DISCONT
 * @GST_BITTTT_RESET_ON_CAPS: new caps with the same token width
 *
 * Events on which the learned state is forgotten.
 */
typedef enum {
  GST_BITTTT_RESET_ON_FLUSH = (1 << 0),
  GST_BITTTT_RESET_ON_STREAM_START = (1 << 1),
  GST_BITTTT_RESET_ON_DISCONT = (1 << 2),
  GST_BITTTT_RESET_ON_CAPS = (1 << 3),
} GstBitTTTResetOn;

#define GST_TYPE_BITTTT_RESET_ON (gst_bitttt_reset_on_get_type ())
GType gst_bitttt_reset_on_get_type (void);

/* The values equal the engine's (ttt_objective, ttt_feature_norm,
 * ttt_update in <bitttt/bitttt.h>), so they are passed on unchanged. */

/**
 * GstBitTTTObjective:
 * @GST_BITTTT_OBJECTIVE_RECONSTRUCT: W learns f -> f (the original)
 * @GST_BITTTT_OBJECTIVE_MULTIVIEW: W learns key -> value of two projections
 * @GST_BITTTT_OBJECTIVE_NEXT: W predicts the next token from this one
 *
 * What the memory learns to predict (docs/SPEC.md, "Objectives").
 */
typedef enum {
  GST_BITTTT_OBJECTIVE_RECONSTRUCT = 0,
  GST_BITTTT_OBJECTIVE_MULTIVIEW = 1,
  GST_BITTTT_OBJECTIVE_NEXT = 2,
} GstBitTTTObjective;

/**
 * GstBitTTTFeatureNorm:
 * @GST_BITTTT_FEATURE_NORM_AUTO: l2 for reconstruct, none otherwise
 * @GST_BITTTT_FEATURE_NORM_L2: unit-length target (direction only)
 * @GST_BITTTT_FEATURE_NORM_NONE: the target keeps its magnitude
 *
 * Whether the target W learns keeps the token's magnitude.
 */
typedef enum {
  GST_BITTTT_FEATURE_NORM_AUTO = 0,
  GST_BITTTT_FEATURE_NORM_L2 = 1,
  GST_BITTTT_FEATURE_NORM_NONE = 2,
} GstBitTTTFeatureNorm;

/**
 * GstBitTTTUpdate:
 * @GST_BITTTT_UPDATE_GRADIENT: W -= eta e k^T (the original)
 * @GST_BITTTT_UPDATE_NLMS: the step divided by ||k||^2 + 1e-6
 *
 * The learning step.
 */
typedef enum {
  GST_BITTTT_UPDATE_GRADIENT = 0,
  GST_BITTTT_UPDATE_NLMS = 1,
} GstBitTTTUpdate;

#define GST_TYPE_BITTTT_OBJECTIVE (gst_bitttt_objective_get_type ())
GType gst_bitttt_objective_get_type (void);
#define GST_TYPE_BITTTT_FEATURE_NORM (gst_bitttt_feature_norm_get_type ())
GType gst_bitttt_feature_norm_get_type (void);
#define GST_TYPE_BITTTT_UPDATE (gst_bitttt_update_get_type ())
GType gst_bitttt_update_get_type (void);

#define GST_TYPE_BITTTT (gst_bitttt_get_type ())
G_DECLARE_FINAL_TYPE (GstBitTTT, gst_bitttt, GST, BITTTT, GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE (bitttt);

G_END_DECLS

#endif /* GST_BITTTT_H */
