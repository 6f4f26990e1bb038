/*
 * window.h
 *	  How the CPU kernels of window ops (Conv2D, MaxPool2D, AveragePool2D)
 *	  read their input: every plane padded once and split by stride phase,
 *	  so that each kernel tap of a row of outputs is one contiguous run of
 *	  floats, without bounds checks.  Internal to src/engine.
 *
 * A filled source holds, per sample, per channel, per phase (a, b) of the
 * strides, a plane of `rows` rows of `pitch` floats: row r, column q is the
 * padded input at (a + r * stride_h, b + q * stride_w).  Output pixel (oy,
 * ox) and tap t then read offset(t) + oy * ystep + ox * xstep, with ystep
 * = pitch and xstep = 1.  When the op needs no padding and its stride along
 * rows is 1 (or 2, for row kernels that read every second float) the input
 * is read in place ("direct"): ystep is then the input rows a step of the
 * output skips, and xstep the row stride.
 */
#ifndef PI_WINDOW_H
#define PI_WINDOW_H

#include "pi_engine.h"

typedef struct PiWindow
{
	bool		direct;			/* read the input in place */
	int			py,				/* stride phases stored, per axis */
				px;
	int64_t		rows,			/* rows per phase plane */
				pitch;			/* floats per row */
	int64_t		plane;			/* floats per phase plane */
	int64_t		sample;			/* floats per sample */
	int64_t		ystep;			/* floats between the sources of output rows */
	int			xstep;			/* floats between the sources of output pixels */
} PiWindow;

/*
 * The source layout of a window op over [C,h,w] planes with [oh,ow]
 * outputs; strided: the caller reads an input with xstep 2 in place.
 */
PiWindow	pi_window_plan(const PiAttrs *at, int64_t c, int64_t h, int64_t w,
						   int64_t oh, int64_t ow, bool strided);

/* Fills the source of samples [C,h,w] from x into dst, padding with pad. */
void		pi_window_fill(const PiWindow *win, const PiAttrs *at, const float *x, int64_t c,
						   int64_t h, int64_t w, int64_t samples, float pad, float *dst);

/* Offsets of the taps of channels [0, c): off[(ch * kh + ki) * kw + kj]. */
void		pi_window_taps(const PiWindow *win, const PiAttrs *at, int64_t c, int64_t *off);

#endif							/* PI_WINDOW_H */
