/*
 * op_conv.c
 *	  Conv2D on the CPU (a 1-D convolution is one of height 1).
 *
 * The input is read through a window source (window.h): padded once and
 * split by stride phase, so that every tap of a run of outputs is a
 * contiguous run of input; or, for padded stride-1 convolutions that keep
 * the row width, read in place as one run per plane with each tap masked
 * where the window leaves the input ("masked"); or, for stride-2 ones with
 * pads that add up to the window, split into its 4 phases unpadded, each
 * the size of the output plane, so that every tap reads one phase as one
 * run per plane, masked so ("phases").  Then, per group:
 *	- depthwise (one input and one output channel per group): a direct loop
 *	  per output row, or per plane when masked; a masked 3x3 with pads of 1
 *	  on planes of whole vectors of whole rows by lane shifts instead of
 *	  masked loads ("shifted");
 *	- "rows": when runs of outputs are long enough to fill vectors, a GEMM
 *	  of the packed weights by the source read in place: tap k of a run
 *	  starting at source offset o is the row at o + off[k] (implicit im2col;
 *	  a pointwise convolution reads its channel planes so);
 *	- "packed": otherwise the runs of a panel of pixels, across rows and
 *	  samples, are gathered (im2col of one panel) and multiplied so.
 * The GEMM tile (cpu.h) adds the bias; the epilogue adds a fused residual,
 * applies a fused activation and writes each output once, in NCHW.  3x3
 * stride-1 convolutions with enough channels run by Winograd instead
 * (conv_winograd.c).
 */
#include <string.h>

#include "cpu.h"
#include "int8.h"
#include "window.h"

/* Floats of padded source per chunk of samples (when the source is filled). */
#define CHUNK_FLOATS (64 * 1024)

/* Lanes that "rows" mode must use, of every 4 it computes, to be chosen. */
#define ROWS_MIN_USE 0.75

typedef enum ConvMode
{
	CONV_WINOGRAD,
	CONV_DEPTHWISE,
	CONV_ROWS,
	CONV_PACKED
} ConvMode;

/* How one Conv2D runs on the CPU, and where its parts of the scratch are. */
typedef struct ConvPlan
{
	PiConvGeometry geo;
	PiWindow	win;
	ConvMode	mode;
	int64_t		kdim;			/* weights per output channel: cg x taps */
	int64_t		run;			/* rows mode: outputs per contiguous run */
	int64_t		chunk;			/* samples per filled source */
	int			panel;			/* lanes of a full panel: 2 vectors */
	bool		masked;			/* raw input, taps masked at the borders */
	bool		phases;			/* masked, from the input split by stride-2 phase */
	bool		shifted;		/* depthwise 3x3 by lane shifts (depthwise3x3) */
	/* scratch offsets, in floats (and uint32 and int64 arrays) */
	int64_t		at_src,
				at_col,
				at_tile,
				at_koff,
				at_kpack,
				at_masks,
				at_kmask,
				total;
} ConvPlan;

/* Whether a Conv2D reads its input directly as the GEMM's right operand (1x1, stride 1, no pads). */
bool
pi_conv_is_pointwise(const PiAttrs *at)
{
	return at->kernel[0] == 1 && at->kernel[1] == 1 &&
		at->strides[0] == 1 && at->strides[1] == 1 &&
		at->pads[0] == 0 && at->pads[1] == 0 && at->pads[2] == 0 && at->pads[3] == 0;
}

/*
 * Per-row scratch floats of the per-sample im2col plan that other engines
 * (the CUDA one) follow; 0 for other ops.
 */
int64_t
pi_conv2d_scratch_row_elems(const PiModel *model, const PiNode *node)
{
	const PiValue *x,
			   *out;

	if (node->op != PI_OP_CONV2D || pi_conv_is_pointwise(&node->attrs))
		return 0;
	x = &model->values[node->inputs[0]];
	out = &model->values[node->output];
	return (x->dims[1] / node->attrs.group) * node->attrs.kernel[0] * node->attrs.kernel[1] *
		(out->numel / out->dims[1]);
}

/* The geometry of a Conv2D or ConvTranspose node with these input and output dims. */
PiConvGeometry
pi_conv_geometry(const PiNode *node, const int64_t *in_dims, int in_rank,
				 const int64_t *out_dims, int out_rank)
{
	bool		one_d = (in_rank == 3);	/* [N,C,L] runs as [N,C,1,L] */
	PiConvGeometry geo;

	geo.c = in_dims[1];
	geo.h = one_d ? 1 : in_dims[2];
	geo.w = in_dims[in_rank - 1];
	geo.m = out_dims[1];
	geo.oh = one_d ? 1 : out_dims[2];
	geo.ow = out_dims[out_rank - 1];
	geo.groups = node->attrs.group;
	geo.cg = geo.c / geo.groups;
	geo.mg = geo.m / geo.groups;
	geo.taps = (int64_t) node->attrs.kernel[0] * node->attrs.kernel[1];
	return geo;
}

/* Plans a Conv2D over batch samples of these dims for kernels k. */
static ConvPlan
conv_plan(const PiNode *node, const int64_t *in_dims, int in_rank, const int64_t *out_dims,
		  int out_rank, int64_t batch, const PiCpuKernels *k)
{
	const PiAttrs *at = &node->attrs;
	ConvPlan	p;
	int64_t		plane;
	bool		depthwise,
				fills;			/* a plane fills the vectors it takes */

	memset(&p, 0, sizeof(p));
	p.geo = pi_conv_geometry(node, in_dims, in_rank, out_dims, out_rank);
	plane = p.geo.oh * p.geo.ow;
	if (pi_winograd_fits(&node->attrs, &p.geo))
	{
		p.mode = CONV_WINOGRAD;
		p.total = pi_winograd_scratch_floats(&p.geo, k->vw);
		return p;
	}
	/* several outputs per input channel share their loads better as a GEMM */
	depthwise = p.geo.cg == 1 && p.geo.mg == 1;
	p.win = pi_window_plan(at, p.geo.c, p.geo.h, p.geo.w, p.geo.oh, p.geo.ow, depthwise);
	/*
	 * A padded stride-1 convolution that keeps the row width reads the raw
	 * input as one run per plane (when that fills vectors): tap t of output
	 * q is input q + off[t], masked where the window leaves the input.  A
	 * stride-2 convolution with pads that add up to the window has outputs
	 * of ceil(h / 2) x ceil(w / 2), the size of the input's even phase: its
	 * input is split into 4 phase planes of the output's size, and tap t of
	 * output q is q + off[t] of one phase, masked so.
	 */
	fills = depthwise || plane >= (int64_t) (ROWS_MIN_USE * ((plane + k->vw - 1) / k->vw * k->vw));
	p.phases = fills && at->strides[0] == 2 && at->strides[1] == 2 &&
		at->dilations[0] == 1 && at->dilations[1] == 1 &&
		at->pads[0] + at->pads[2] == at->kernel[0] - 1 && at->pads[1] + at->pads[3] == at->kernel[1] - 1;
	p.masked = p.phases ||
		(fills && !p.win.direct && at->strides[0] == 1 && at->strides[1] == 1 && p.geo.ow == p.geo.w);
	if (p.masked)
	{
		p.win.direct = !p.phases;
		p.win.py = p.win.px = p.phases ? 2 : 1;
		p.win.rows = p.phases ? p.geo.oh : p.geo.h;
		p.win.pitch = p.win.ystep = p.phases ? p.geo.ow : p.geo.w;
		p.win.xstep = 1;
		p.win.plane = p.win.rows * p.win.pitch;
		p.win.sample = p.geo.c * p.win.py * p.win.px * p.win.plane;
	}
	p.kdim = p.geo.cg * p.geo.taps;
	p.panel = 2 * k->vw;
	/* consecutive output rows read on from one another: one run per plane */
	p.run = (p.win.ystep == p.geo.ow * p.win.xstep) ? plane : p.geo.ow;
	if (depthwise)
		p.mode = CONV_DEPTHWISE;
	else if (p.run >= (int64_t) (ROWS_MIN_USE * ((p.run + k->vw - 1) / k->vw * k->vw)))
		p.mode = CONV_ROWS;
	else
		p.mode = CONV_PACKED;
	/*
	 * A masked 3x3 depthwise convolution with pads of 1 whose planes are
	 * whole vectors of whole rows (and whose phase planes, when split, are
	 * all full) shifts each loaded vector into its taps.
	 */
	p.shifted = depthwise && p.masked && at->kernel[0] == 3 && at->kernel[1] == 3 &&
		at->dilations[0] == 1 && at->dilations[1] == 1 && at->pads[0] == 1 && at->pads[1] == 1 &&
		at->pads[2] == 1 && at->pads[3] == 1 && plane % k->vw == 0 && k->vw % p.win.pitch == 0 &&
		(!p.phases || (p.geo.h == 2 * p.geo.oh && p.geo.w == 2 * p.geo.ow));
	p.chunk = batch;
	if (!p.win.direct)
	{
		p.chunk = CHUNK_FLOATS / p.win.sample;
		p.chunk = p.chunk < 1 ? 1 : (p.chunk > batch ? batch : p.chunk);
	}
	p.at_src = 0;
	p.at_col = p.at_src + (p.win.direct ? 0 : pi_line_up(p.chunk * p.win.sample));
	p.at_tile = p.at_col + (p.mode == CONV_PACKED ? pi_line_up(p.kdim * p.panel) : 0);
	p.at_koff = p.at_tile + (p.mode == CONV_DEPTHWISE ? 0 : pi_line_up(k->mr_max * p.panel));
	p.at_kpack = p.at_koff + pi_line_up(2 * p.kdim);
	p.at_masks = p.at_kpack + (p.mode == CONV_PACKED ? pi_line_up(2 * p.kdim) : 0);
	p.at_kmask = p.at_masks + (p.masked && !p.shifted ? pi_line_up((plane + k->vw - 1) / k->vw * p.geo.taps) : 0);
	p.total = p.at_kmask + (p.masked && p.mode != CONV_DEPTHWISE ?
							pi_line_up((plane + p.panel - 1) / p.panel * 2 * p.kdim) : 0);
	return p;
}

/* Scratch bytes a Conv2D needs on the CPU for up to max_batch rows. */
int64_t
pi_conv2d_cpu_scratch_bytes(const PiModel *model, const PiNode *node, int64_t max_batch)
{
	const PiValue *x = &model->values[node->inputs[0]];
	const PiValue *y = &model->values[node->output];
	ConvPlan	p;

	if (pi_conv_int8_applies(model, node))
		return pi_conv_int8_scratch_bytes(model, node);
	p = conv_plan(node, x->dims, x->rank, y->dims, y->rank, max_batch, pi_cpu());
	return p.total * (int64_t) sizeof(float);
}

/* Floats of a Conv2D's weights packed for the GEMM tiles (0: read as stored). */
int64_t
pi_conv2d_packed_floats(const PiModel *model, const PiNode *node)
{
	const PiValue *x = &model->values[node->inputs[0]];
	const PiValue *w = &model->values[node->inputs[1]];
	const PiValue *y = &model->values[node->output];
	PiConvGeometry geo = pi_conv_geometry(node, x->dims, x->rank, y->dims, y->rank);

	if (pi_conv_int8_applies(model, node))
		return pi_conv_int8_packed_floats(model, node);
	if (node->op != PI_OP_CONV2D || (w->dims[1] == 1 && w->dims[0] == x->dims[1]))
		return 0;
	return pi_winograd_fits(&node->attrs, &geo) ? 16 * geo.m * geo.c : w->numel;
}

/*
 * Packs a Conv2D's weights [M, K] for the GEMM tiles: per group, per block
 * of rows, column by column (w[k * mr + i]); Winograd's transformed.
 */
void
pi_conv2d_pack(const PiModel *model, const PiNode *node, float *dst)
{
	const PiValue *wv = &model->values[node->inputs[1]];
	const PiValue *x = &model->values[node->inputs[0]];
	const PiValue *y = &model->values[node->output];
	PiConvGeometry geo = pi_conv_geometry(node, x->dims, x->rank, y->dims, y->rank);
	int64_t		m = wv->dims[0];
	int64_t		kdim = wv->numel / m;
	int64_t		mg = m / node->attrs.group;
	int64_t		nb = pi_row_blocks(mg, pi_cpu()->mr_max);

	if (pi_conv_int8_applies(model, node))
	{
		pi_conv_int8_pack(model, node, dst);
		return;
	}
	if (pi_winograd_fits(&node->attrs, &geo))
	{
		pi_winograd_pack(wv->data, geo.m, geo.c, pi_cpu()->mr_max, dst);
		return;
	}
	for (int64_t g = 0; g < node->attrs.group; g++)
		for (int64_t b = 0; b < nb; b++)
		{
			int64_t		m0;
			int			mr;
			const float *w;
			float	   *d;

			pi_row_block(mg, nb, b, &m0, &mr);
			w = wv->data + (g * mg + m0) * kdim;
			d = dst + (g * mg + m0) * kdim;
			for (int64_t k = 0; k < kdim; k++)
				for (int i = 0; i < mr; i++)
					d[k * mr + i] = w[i * kdim + k];
		}
}

/*
 * Masked plans: offsets of the taps of channels [0, c) in the raw input,
 * relative to the output's own position (negative above and left of it).
 */
static void
masked_taps(const PiAttrs *at, const ConvPlan *p, int64_t c, int64_t *off)
{
	for (int64_t ch = 0; ch < c; ch++)
		for (int ki = 0; ki < at->kernel[0]; ki++)
			for (int kj = 0; kj < at->kernel[1]; kj++)
				off[(ch * at->kernel[0] + ki) * at->kernel[1] + kj] = ch * p->win.plane +
					((int64_t) ki * at->dilations[0] - at->pads[0]) * p->geo.w +
					(int64_t) kj * at->dilations[1] - at->pads[1];
}

/*
 * Phase plans: offsets of the taps of channels [0, c) in their 4 phase
 * planes, relative to the output's own position.
 */
static void
phase_taps(const PiAttrs *at, const ConvPlan *p, int64_t c, int64_t *off)
{
	for (int64_t ch = 0; ch < c; ch++)
		for (int ki = 0; ki < at->kernel[0]; ki++)
			for (int kj = 0; kj < at->kernel[1]; kj++)
			{
				/* input row 2 * oy + dy is row oy + (dy - (dy & 1)) / 2 of phase dy & 1 */
				int64_t		dy = (int64_t) ki - at->pads[0],
							dx = (int64_t) kj - at->pads[1];

				off[(ch * at->kernel[0] + ki) * at->kernel[1] + kj] =
					(ch * 4 + (dy & 1) * 2 + (dx & 1)) * p->win.plane +
					(dy - (dy & 1)) / 2 * p->geo.ow + (dx - (dx & 1)) / 2;
			}
}

/*
 * The outputs o < n whose tap lands inside the input, o * stride + d in
 * [0, size): [*lo, *hi), a run since the position grows with o.
 */
static void
inside_run(int64_t n, int64_t stride, int64_t d, int64_t size, int64_t *lo, int64_t *hi)
{
	*lo = 0;
	while (*lo < n && *lo * stride + d < 0)
		(*lo)++;
	*hi = *lo;
	while (*hi < n && *hi * stride + d < size)
		(*hi)++;
}

/*
 * Masked plans: masks[v * taps + t] has bit l set where output v * vw + l
 * of the output plane exists and tap t of it falls inside the input; each
 * tap's outputs inside are a rectangle, set a row's run of bits at a time.
 */
static void
tap_masks(const PiAttrs *at, const ConvPlan *p, int vw, uint32_t *masks)
{
	int64_t		ow = p->geo.ow;
	int64_t		taps = p->geo.taps;
	int64_t		nvec = (p->geo.oh * ow + vw - 1) / vw;

	memset(masks, 0, nvec * taps * sizeof(uint32_t));
	for (int ki = 0; ki < at->kernel[0]; ki++)
		for (int kj = 0; kj < at->kernel[1]; kj++)
		{
			uint32_t   *m = masks + ki * at->kernel[1] + kj;
			int64_t		y0,
						y1,
						x0,
						x1;

			inside_run(p->geo.oh, at->strides[0],
					   (int64_t) ki * at->dilations[0] - at->pads[0], p->geo.h, &y0, &y1);
			inside_run(ow, at->strides[1],
					   (int64_t) kj * at->dilations[1] - at->pads[1], p->geo.w, &x0, &x1);
			for (int64_t oy = y0; oy < y1; oy++)
				for (int64_t q = oy * ow + x0, e = oy * ow + x1; q < e;)
				{
					int64_t		v = q / vw,
								end = (v + 1) * vw < e ? (v + 1) * vw : e;

					m[v * taps] |= (uint32_t) (((1ull << (end - q)) - 1) << (q - v * vw));
					q = end;
				}
		}
}

/*
 * Multiplies the packed weights of group g by one panel of n lanes whose
 * row k is at b + boff[k], and writes the outputs through the epilogue:
 * lanes [lane[i], lane[i + 1]) go to offset out[i] of the first output
 * channel's plane, for each of the nseg segments.
 */
static void
conv_panel(const PiKernelArgs *a, const ConvPlan *p, const PiCpuKernels *k, int64_t g,
		   const float *b, const int64_t *boff, const uint32_t *kmask, int n, const int *lane,
		   const int64_t *out, int nseg)
{
	int64_t		plane = p->geo.oh * p->geo.ow;
	int64_t		mg = p->geo.mg;	/* a local: the tile calls cannot change it */
	int64_t		nb = pi_row_blocks(mg, k->mr_max);
	float	   *t = a->scratch + p->at_tile;
	int			nv = n > k->vw ? 2 : 1;
	PiOp		act = a->epi ? a->epi->act : PI_OP_IDENTITY;
	const PiAttrs *act_attrs = a->epi ? &a->epi->act_attrs : NULL;

	/* a panel of one segment with a simple activation is written by the tile */
	bool		direct = nseg == 1 && pi_tile_act(act);
	PiTileOut	o;

	if (direct)
	{
		o.ldy = o.ldr = plane;
		o.act = act;
		o.lo = act == PI_OP_CLIP ? act_attrs->clip_min : 0.0f;
		o.hi = act == PI_OP_CLIP ? act_attrs->clip_max : 0.0f;
		o.alpha = act == PI_OP_LEAKY_RELU ? act_attrs->alpha : 0.0f;
	}
	for (int64_t blk = 0; blk < nb; blk++)
	{
		int64_t		m0;
		int			mr;

		pi_row_block(mg, nb, blk, &m0, &mr);
		m0 += g * mg;
		if (direct)
		{
			o.y = a->out + out[0] + m0 * plane + lane[0];
			o.res = a->residual ? a->residual + out[0] + m0 * plane + lane[0] : NULL;
		}
		k->gemm_tile(a->packed + m0 * p->kdim, mr, p->kdim, b, boff, kmask, nv, n,
					 a->node->ninputs == 3 ? a->in[2] + m0 : NULL, t, direct ? &o : NULL);
		if (direct)
			continue;
		for (int i = 0; i < mr; i++)
			for (int sg = 0; sg < nseg; sg++)
			{
				int64_t		at = out[sg] + (m0 + i) * plane;

				k->epilogue(a->out + at, t + i * nv * k->vw + lane[sg],
							a->residual ? a->residual + at : NULL, lane[sg + 1] - lane[sg],
							act, act_attrs);
			}
	}
}

/*
 * Rows mode: panels of each run of samples [s0, s0 + samples), read in
 * place from src; masked plans mask each panel's taps with masks.
 */
static void
conv_rows(const PiKernelArgs *a, const ConvPlan *p, const PiCpuKernels *k, int64_t g,
		  const float *src, int64_t s0, int64_t samples, const int64_t *koff,
		  const uint32_t *masks)
{
	int64_t		plane = p->geo.oh * p->geo.ow;
	int64_t		runs = plane / p->run;
	int64_t		nvec = (plane + k->vw - 1) / k->vw;
	const float *gsrc = src + g * p->geo.cg * p->win.py * p->win.px * p->win.plane;
	uint32_t   *kmask = p->masked ? (uint32_t *) (a->scratch + p->at_kmask) : NULL;

	if (kmask != NULL)
		for (int64_t x0 = 0; x0 < p->run; x0 += p->panel)
		{
			int64_t		v0 = x0 / k->vw;
			uint32_t   *km = kmask + (x0 / p->panel) * 2 * p->kdim;

			for (int64_t i = 0; i < p->kdim; i++)
			{
				km[2 * i] = masks[v0 * p->geo.taps + i % p->geo.taps];
				km[2 * i + 1] = v0 + 1 < nvec ? masks[(v0 + 1) * p->geo.taps + i % p->geo.taps] : 0;
			}
		}
	for (int64_t s = 0; s < samples; s++)
		for (int64_t r = 0; r < runs; r++)
		{
			pi_check_interrupts();
			for (int64_t x0 = 0; x0 < p->run; x0 += p->panel)
			{
				int			lane[2] = {0, (int) (p->run - x0 < p->panel ? p->run - x0 : p->panel)};
				int64_t		out = (s0 + s) * p->geo.m * plane + r * p->run + x0;

				conv_panel(a, p, k, g, gsrc + s * p->win.sample + r * p->win.ystep + x0, koff,
						   kmask ? kmask + (x0 / p->panel) * 2 * p->kdim : NULL, lane[1], lane,
						   &out, 1);
			}
		}
}

/*
 * Packed mode: panels of the pixels of samples [s0, s0 + samples) in order,
 * across rows and samples; each panel's runs are gathered into col first.
 */
static void
conv_packed(const PiKernelArgs *a, const ConvPlan *p, const PiCpuKernels *k, int64_t g,
			const float *src, int64_t s0, int64_t samples, const int64_t *koff,
			const int64_t *kpack)
{
	int64_t		plane = p->geo.oh * p->geo.ow;
	int64_t		total = samples * plane;
	float	   *col = a->scratch + p->at_col;
	const float *gsrc = src + g * p->geo.cg * p->win.py * p->win.px * p->win.plane;

	for (int64_t g0 = 0; g0 < total; g0 += p->panel)
	{
		int			n = (int) (total - g0 < p->panel ? total - g0 : p->panel);
		int			lane[PI_CPU_MAX_PANEL + 1];
		int64_t		out[PI_CPU_MAX_PANEL];
		int			nseg = 0;

		pi_check_interrupts();
		/* a segment per sample the panel touches; a gathered run per row */
		for (int l = 0; l < n;)
		{
			int64_t		s = (g0 + l) / plane,
						pix = (g0 + l) % plane;
			int			count = (int) (plane - pix < n - l ? plane - pix : n - l);

			lane[nseg] = l;
			out[nseg++] = (s0 + s) * p->geo.m * plane + pix;
			for (int done = 0; done < count;)
			{
				int64_t		oy = (pix + done) / p->geo.ow,
							ox = (pix + done) % p->geo.ow;
				int			len = (int) (p->geo.ow - ox < count - done ? p->geo.ow - ox : count - done);

				k->gather_rows(col, p->panel, l + done,
							   gsrc + s * p->win.sample + oy * p->win.ystep + ox, koff, p->kdim, len);
				done += len;
			}
			l += count;
		}
		lane[nseg] = n;
		conv_panel(a, p, k, g, col, kpack, NULL, n, lane, out, nseg);
	}
}

/*
 * Depthwise: each output channel from its one input channel, the channels
 * of a sample at once when a plane is one run, else row by row.  The
 * kernel applies a Relu, Clip or LeakyRelu; a residual or another
 * activation follows through the epilogue.
 */
static void
conv_depthwise(const PiKernelArgs *a, const ConvPlan *p, const PiCpuKernels *k,
			   const float *src, int64_t s0, int64_t samples, const int64_t *koff,
			   const uint32_t *masks)
{
	int64_t		plane = p->geo.oh * p->geo.ow;
	int64_t		runs = plane / p->run;
	int64_t		src_ch = p->win.py * p->win.px * p->win.plane;
	const float *bias = a->node->ninputs == 3 ? a->in[2] : NULL;
	PiOp		act = a->epi ? a->epi->act : PI_OP_IDENTITY;
	bool		in_kernel = a->residual == NULL && pi_tile_act(act);
	PiTileOut	o = {0};

	o.act = in_kernel ? act : PI_OP_IDENTITY;
	o.lo = act == PI_OP_CLIP ? a->epi->act_attrs.clip_min : 0.0f;
	o.hi = act == PI_OP_CLIP ? a->epi->act_attrs.clip_max : 0.0f;
	o.alpha = act == PI_OP_LEAKY_RELU ? a->epi->act_attrs.alpha : 0.0f;
	for (int64_t s = 0; s < samples; s++)
	{
		const float *ssrc = src + s * p->win.sample;

		pi_check_interrupts();
		float	   *y = a->out + (s0 + s) * p->geo.m * plane;

		if (p->shifted)
			k->depthwise3x3(y, plane, ssrc, src_ch, p->geo.m, a->in[1], bias, plane, p->win.pitch,
							p->phases, &o);
		else if (runs == 1)
			k->depthwise_rows(y, plane, ssrc, src_ch, p->geo.m, koff, a->in[1], bias,
							  (int) p->geo.taps, p->run, p->win.xstep, masks, &o);
		else
			for (int64_t m = 0; m < p->geo.m; m++)
				for (int64_t r = 0; r < runs; r++)
					k->depthwise_rows(y + m * plane + r * p->run, plane,
									  ssrc + m * src_ch + r * p->win.ystep, src_ch, 1, koff,
									  a->in[1] + m * p->geo.taps, bias ? bias + m : NULL,
									  (int) p->geo.taps, p->run, p->win.xstep, masks, &o);
		if (a->epi != NULL && !in_kernel)
			k->epilogue(y, y, a->residual ? a->residual + (s0 + s) * p->geo.m * plane : NULL,
						p->geo.m * plane, act, &a->epi->act_attrs);
	}
}

/* Conv2D over the batch; a 1-D convolution is one of height 1. */
void
pi_kernel_conv2d(const PiKernelArgs *a)
{
	const PiCpuKernels *k = pi_cpu();
	const PiAttrs *at = &a->node->attrs;
	ConvPlan	p = conv_plan(a->node, a->in_dims[0], a->in_rank[0], a->out_dims, a->out_rank,
							  a->batch, k);
	int64_t    *koff = (int64_t *) (a->scratch + p.at_koff);
	int64_t    *kpack = (int64_t *) (a->scratch + p.at_kpack);
	uint32_t   *masks = p.masked ? (uint32_t *) (a->scratch + p.at_masks) : NULL;
	int64_t		in_sample = p.geo.c * p.geo.h * p.geo.w;

	if (pi_conv_int8_applies(a->model, a->node))
	{
		pi_kernel_conv_int8(a);
		return;
	}
	if (p.mode == CONV_WINOGRAD)
	{
		pi_winograd_run(a, &p.geo);
		return;
	}

	if (p.phases)
		phase_taps(at, &p, p.mode == CONV_DEPTHWISE ? 1 : p.geo.cg, koff);
	else if (p.masked)
		masked_taps(at, &p, p.mode == CONV_DEPTHWISE ? 1 : p.geo.cg, koff);
	else
		pi_window_taps(&p.win, at, p.mode == CONV_DEPTHWISE ? 1 : p.geo.cg, koff);
	if (p.masked && !p.shifted)
		tap_masks(at, &p, k->vw, masks);
	if (p.mode == CONV_PACKED)
		for (int64_t i = 0; i < p.kdim; i++)
			kpack[i] = i * p.panel;
	for (int64_t s0 = 0; s0 < a->batch; s0 += p.chunk)
	{
		int64_t		samples = a->batch - s0 < p.chunk ? a->batch - s0 : p.chunk;
		const float *src = a->in[0] + s0 * in_sample;

		if (p.phases)
		{
			k->split_phases(a->scratch + p.at_src, p.geo.oh, p.geo.ow, src, p.geo.h, p.geo.w,
							samples * p.geo.c);
			src = a->scratch + p.at_src;
		}
		else if (!p.win.direct)
		{
			pi_window_fill(&p.win, at, src, p.geo.c, p.geo.h, p.geo.w, samples, 0.0f,
						   a->scratch + p.at_src);
			src = a->scratch + p.at_src;
		}
		if (p.mode == CONV_DEPTHWISE)
			conv_depthwise(a, &p, k, src, s0, samples, koff, masks);
		else
			for (int64_t g = 0; g < p.geo.groups; g++)
			{
				if (p.mode == CONV_ROWS)
					conv_rows(a, &p, k, g, src, s0, samples, koff, masks);
				else
					conv_packed(a, &p, k, g, src, s0, samples, koff, kpack);
			}
	}
}
