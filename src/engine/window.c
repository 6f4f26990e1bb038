/*
 * window.c
 *	  The padded, phase-split source of window ops (window.h).
 */
#include "cpu.h"
#include "window.h"

/* Phases of one axis that taps reach: (k * dilation) % stride for k < kernel. */
static int
phases(int kernel, int stride, int dilation)
{
	return (dilation == 1 && kernel < stride) ? kernel : stride;
}

/*
 * The source layout of a window op over [C,h,w] planes with [oh,ow]
 * outputs; strided: the caller reads an input with xstep 2 in place.
 */
PiWindow
pi_window_plan(const PiAttrs *at, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow,
			   bool strided)
{
	PiWindow	win;
	int			sh = at->strides[0],
				sw = at->strides[1];
	int64_t		need_h = (oh - 1) * sh + (int64_t) (at->kernel[0] - 1) * at->dilations[0] + 1;
	int64_t		need_w = (ow - 1) * sw + (int64_t) (at->kernel[1] - 1) * at->dilations[1] + 1;
	bool		unpadded = at->pads[0] == 0 && at->pads[1] == 0 && at->pads[2] == 0 &&
		at->pads[3] == 0 && need_h <= h && need_w <= w;

	win.direct = unpadded && (sh == 1 || strided) && (sw == 1 || (strided && sw == 2));
	if (win.direct)
	{
		win.py = win.px = 1;
		win.rows = h;
		win.pitch = w;
		win.ystep = sh * w;
		win.xstep = sw;
	}
	else
	{
		win.py = phases(at->kernel[0], sh, at->dilations[0]);
		win.px = phases(at->kernel[1], sw, at->dilations[1]);
		win.rows = (need_h + sh - 1) / sh;
		win.pitch = (need_w + sw - 1) / sw;
		win.ystep = win.pitch;
		win.xstep = 1;
	}
	win.plane = win.rows * win.pitch;
	win.sample = c * win.py * win.px * win.plane;
	return win;
}

/* Fills the source of samples [C,h,w] from x into dst, padding with pad. */
void
pi_window_fill(const PiWindow *win, const PiAttrs *at, const float *x, int64_t c,
			   int64_t h, int64_t w, int64_t samples, float pad, float *dst)
{
	const PiCpuKernels *k = pi_cpu();
	int			sh = at->strides[0],
				sw = at->strides[1];

	for (int64_t p = 0; p < samples * c; p++)
	{
		const float *xp = x + p * h * w;

		for (int a = 0; a < win->py; a++)
			for (int b = 0; b < win->px; b++)
				k->fill_plane(dst + ((p * win->py + a) * win->px + b) * win->plane, win->rows,
							  win->pitch, xp, h, w, a - at->pads[0], b - at->pads[1], sh, sw, pad);
	}
}

/* Offsets of the taps of channels [0, c): off[(ch * kh + ki) * kw + kj]. */
void
pi_window_taps(const PiWindow *win, const PiAttrs *at, int64_t c, int64_t *off)
{
	int			kh = at->kernel[0],
				kw = at->kernel[1];
	int			sh = win->direct ? 1 : at->strides[0],
				sw = win->direct ? 1 : at->strides[1];

	for (int64_t ch = 0; ch < c; ch++)
		for (int ki = 0; ki < kh; ki++)
			for (int kj = 0; kj < kw; kj++)
			{
				int64_t		dy = (int64_t) ki * at->dilations[0],
							dx = (int64_t) kj * at->dilations[1];
				int64_t		plane = (ch * win->py + dy % sh) * win->px + dx % sw;

				off[(ch * kh + ki) * kw + kj] = plane * win->plane + (dy / sh) * win->pitch + dx / sw;
			}
}
