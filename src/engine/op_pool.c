/*
 * op_pool.c
 *	  MaxPool2D, AveragePool2D and GlobalAveragePool over NCHW activations
 *	  (1-D as height 1), vectorized along output rows: the input is read
 *	  through a window source (window.h) padded with -inf for max pooling
 *	  and 0 for averaging, so every tap of a row is one contiguous run.
 */
#include <math.h>

#include "cpu.h"
#include "window.h"

/* Floats of padded source per chunk of samples (when the source is filled). */
#define CHUNK_FLOATS (64 * 1024)

/* How one pool runs, and where its parts of the scratch are (in floats). */
typedef struct PoolPlan
{
	int64_t		c,
				h,
				w,
				oh,
				ow;
	PiWindow	win;
	int64_t		chunk;			/* samples per filled source */
	int64_t		at_src,
				at_taps,
				at_rdiv,
				total;
} PoolPlan;

/* Plans a pool over batch samples of these dims ([N,C,L] runs as [N,C,1,L]). */
static PoolPlan
pool_plan(const PiNode *node, const int64_t *in_dims, int in_rank, const int64_t *out_dims,
		  int out_rank, int64_t batch)
{
	PoolPlan	p;
	int			taps = node->attrs.kernel[0] * node->attrs.kernel[1];

	p.c = in_dims[1];
	p.h = in_rank == 4 ? in_dims[2] : 1;
	p.w = in_dims[in_rank - 1];
	p.oh = out_rank == 4 ? out_dims[2] : 1;
	p.ow = out_dims[out_rank - 1];
	p.win = pi_window_plan(&node->attrs, p.c, p.h, p.w, p.oh, p.ow, true);
	p.chunk = batch;
	if (!p.win.direct)
	{
		p.chunk = CHUNK_FLOATS / p.win.sample;
		p.chunk = p.chunk < 1 ? 1 : (p.chunk > batch ? batch : p.chunk);
	}
	p.at_src = 0;
	p.at_taps = p.win.direct ? 0 : pi_line_up(p.chunk * p.win.sample);
	p.at_rdiv = p.at_taps + pi_line_up(2 * (int64_t) taps);
	p.total = p.at_rdiv + (node->op == PI_OP_AVERAGE_POOL2D ? pi_line_up(p.oh * p.ow) : 0);
	return p;
}

/* Scratch bytes a MaxPool2D or AveragePool2D needs on the CPU (cpu.h). */
int64_t
pi_pool_cpu_scratch_bytes(const PiModel *model, const PiNode *node, int64_t max_batch)
{
	const PiValue *x = &model->values[node->inputs[0]];
	const PiValue *y = &model->values[node->output];

	return pool_plan(node, x->dims, x->rank, y->dims, y->rank, max_batch).total *
		(int64_t) sizeof(float);
}

/*
 * The reciprocal of each output's divisor: with count_include_pad the
 * window's size within the padding (not the part of a ceil_mode window
 * beyond it), else the input elements it covers.
 */
static void
average_divisors(const PiAttrs *at, const PoolPlan *p, float *rdiv)
{
	for (int64_t oy = 0; oy < p->oh; oy++)
		for (int64_t ox = 0; ox < p->ow; ox++)
		{
			int64_t		y0 = oy * at->strides[0] - at->pads[0];
			int64_t		x0 = ox * at->strides[1] - at->pads[1];
			int64_t		y1 = y0 + at->kernel[0],
						x1 = x0 + at->kernel[1];
			int64_t		padded;

			if (y1 > p->h + at->pads[2])
				y1 = p->h + at->pads[2];
			if (x1 > p->w + at->pads[3])
				x1 = p->w + at->pads[3];
			padded = (y1 - y0) * (x1 - x0);
			y0 = y0 < 0 ? 0 : y0;
			x0 = x0 < 0 ? 0 : x0;
			y1 = y1 > p->h ? p->h : y1;
			x1 = x1 > p->w ? p->w : x1;
			rdiv[oy * p->ow + ox] = 1.0f / (float) (at->count_include_pad ? padded
													: (y1 - y0) * (x1 - x0));
		}
}

/* MaxPool2D (max) and AveragePool2D over the batch. */
static void
pool(const PiKernelArgs *a, bool max)
{
	const PiCpuKernels *k = pi_cpu();
	const PiAttrs *at = &a->node->attrs;
	PoolPlan	p = pool_plan(a->node, a->in_dims[0], a->in_rank[0], a->out_dims, a->out_rank,
							  a->batch);
	int64_t    *taps = (int64_t *) (a->scratch + p.at_taps);
	float	   *rdiv = a->scratch + p.at_rdiv;
	int			ntaps = at->kernel[0] * at->kernel[1];
	int64_t		planes = p.win.py * p.win.px * p.win.plane;	/* floats per channel */

	pi_window_taps(&p.win, at, 1, taps);
	if (!max)
		average_divisors(at, &p, rdiv);
	for (int64_t s0 = 0; s0 < a->batch; s0 += p.chunk)
	{
		int64_t		samples = a->batch - s0 < p.chunk ? a->batch - s0 : p.chunk;
		const float *src = a->in[0] + s0 * p.c * p.h * p.w;
		float	   *y = a->out + s0 * p.c * p.oh * p.ow;

		if (!p.win.direct)
		{
			/* padding never wins a max and adds nothing to a sum */
			pi_window_fill(&p.win, at, src, p.c, p.h, p.w, samples, max ? -INFINITY : 0.0f,
						   a->scratch + p.at_src);
			src = a->scratch + p.at_src;
		}
		for (int64_t plane = 0; plane < samples * p.c; plane++)
		{
			const float *x = src + plane * planes;

			for (int64_t oy = 0; oy < p.oh; oy++, y += p.ow)
			{
				if (max)
					k->max_pool_row(y, x + oy * p.win.ystep, taps, ntaps, p.ow, p.win.xstep);
				else
					k->avg_pool_row(y, x + oy * p.win.ystep, taps, ntaps, rdiv + oy * p.ow, p.ow,
										p.win.xstep);
			}
		}
	}
}

/* MaxPool2D: a window with a NaN gives NaN, as in PyTorch. */
void
pi_kernel_max_pool2d(const PiKernelArgs *a)
{
	pool(a, true);
}

/*
 * AveragePool2D: with count_include_pad the divisor counts the padding but
 * not the part of a ceil_mode window beyond it.
 */
void
pi_kernel_average_pool2d(const PiKernelArgs *a)
{
	pool(a, false);
}

/* GlobalAveragePool: the mean of each plane. */
void
pi_kernel_global_average_pool(const PiKernelArgs *a)
{
	const PiCpuKernels *k = pi_cpu();
	int64_t		planes = a->in_dims[0][0] * a->in_dims[0][1];
	int64_t		area = 1;

	for (int i = 2; i < a->in_rank[0]; i++)
		area *= a->in_dims[0][i];
	for (int64_t p = 0; p < planes; p++)
		a->out[p] = k->sum(a->in[0] + p * area, area) / (float) area;
}
