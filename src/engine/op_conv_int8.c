/*
 * op_conv_int8.c
 *	  Conv2D on the int8 path (int8.h, PiInt8Conv): in a model of precision
 *	  int8, over the output of a DequantizeLinear (a QDQ model), or as a
 *	  quantize_dynamic file's ConvInteger (dynamic_int8).  The executor
 *	  quantizes and packs the weights once, per output channel (with the
 *	  file's one scale where a quantized weight has one); each call
 *	  quantizes an image at a time as DynamicQuantizeLinear does (or takes
 *	  its codes from the DequantizeLinear), lays it out padded, split by
 *	  stride phase and interleaved by 4 channels (or 4 taps along x, where
 *	  that takes fewer groups), multiplies it in int32 and writes float32
 *	  outputs with the bias, then the fused residual and activation as the
 *	  float path does.  Depthwise convolutions stay float32, but for
 *	  ConvInteger's.
 */
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "int8.h"

/* Bytes read past the last laid-out position by a vector's unused lanes, at most. */
#define LAYOUT_SLACK 256

/* How an int8 Conv2D lays out an image and its weights, and where its scratch goes. */
typedef struct Int8ConvPlan
{
	PiConvGeometry geo;
	int			kh,
				kw;
	bool		x4;				/* groups of 4 taps along x, not of 4 channels */
	int64_t		sy,
				sx,
				hp,				/* padded input */
				wp,
				hq,				/* one stride phase of it */
				wq,
				phases;
	int64_t		sets;			/* per group: sets of 4 channels (x4: channels) */
	int64_t		kx4;			/* x4: groups of 4 taps per kernel row */
	int64_t		kgroups;
	int64_t		plane_bytes;	/* one phase plane of one set */
	int64_t		group_bytes;
	int64_t		npos,
				nvec;
	PiInt8Layout layout;
	/* scratch offsets, in bytes */
	int64_t		at_buf,
				at_off,
				at_vout,
				at_vmask,
				total;
} Int8ConvPlan;

/* Bytes rounded up to a cache line. */
static int64_t
line_up(int64_t bytes)
{
	return (bytes + 63) / 64 * 64;
}

/* Plans an int8 Conv2D over inputs of in_dims with outputs of out_dims. */
static Int8ConvPlan
conv_plan(const PiNode *node, const int64_t *in_dims, int in_rank, const int64_t *out_dims,
		  int out_rank)
{
	const PiAttrs *at = &node->attrs;
	Int8ConvPlan p;
	int64_t		c4_groups,
				x4_groups;

	memset(&p, 0, sizeof(p));
	p.geo = pi_conv_geometry(node, in_dims, in_rank, out_dims, out_rank);
	p.kh = at->kernel[0];
	p.kw = at->kernel[1];
	p.sy = at->strides[0];
	p.sx = at->strides[1];
	p.hp = p.geo.h + at->pads[0] + at->pads[2];
	p.wp = p.geo.w + at->pads[1] + at->pads[3];
	c4_groups = (p.geo.cg + 3) / 4 * p.geo.taps;
	x4_groups = p.geo.cg * p.kh * ((p.kw + 3) / 4);
	/* taps along x make fewer groups for few channels; they need stride and dilation 1 */
	p.x4 = p.sy == 1 && p.sx == 1 && at->dilations[0] == 1 && at->dilations[1] == 1 &&
		x4_groups < c4_groups;
	p.phases = p.sy * p.sx;
	p.hq = (p.hp + p.sy - 1) / p.sy;
	p.wq = (p.wp + p.sx - 1) / p.sx;
	p.sets = p.x4 ? p.geo.cg : (p.geo.cg + 3) / 4;
	p.kx4 = (p.kw + 3) / 4;
	p.kgroups = p.x4 ? x4_groups : c4_groups;
	p.plane_bytes = 4 * p.hq * p.wq;
	p.group_bytes = p.sets * p.phases * p.plane_bytes;
	p.npos = (p.geo.oh - 1) * p.wq + p.geo.ow;
	p.nvec = (p.npos + 15) / 16;
	p.layout = (PiInt8Layout) {
		p.geo.c, p.geo.h, p.geo.w, p.geo.cg, at->pads[0], at->pads[1], p.sy, p.sx, p.wq,
		p.plane_bytes, p.group_bytes, p.geo.groups * p.group_bytes + LAYOUT_SLACK, p.x4
	};
	p.at_buf = 0;
	p.at_off = p.at_buf + line_up(p.layout.bytes);
	p.at_vout = p.at_off + line_up(p.kgroups * (int64_t) sizeof(int64_t));
	p.at_vmask = p.at_vout + line_up(p.nvec * (int64_t) sizeof(int64_t));
	p.total = p.at_vmask + line_up(p.nvec * (int64_t) sizeof(uint16_t));
	return p;
}

/* The plan of a node from its model's value dims. */
static Int8ConvPlan
node_plan(const PiModel *model, const PiNode *node)
{
	const PiValue *x = &model->values[node->inputs[0]];
	const PiValue *y = &model->values[node->output];

	return conv_plan(node, x->dims, x->rank, y->dims, y->rank);
}

/*
 * The DequantizeLinear node that produces the node's input 0, or NULL: the
 * input then holds exact codes, (c - zero_point) * scale (a QDQ model).
 */
static const PiNode *
dequantized_input(const PiModel *model, const PiNode *node)
{
	int			p = model->values[node->inputs[0]].producer;

	return (p >= 0 && model->nodes[p].op == PI_OP_DEQUANTIZE) ? &model->nodes[p] : NULL;
}

/*
 * Whether a Conv2D runs on the int8 path: constant weights, sums that fit
 * int32, and either marked dynamic_int8 (a quantize_dynamic file's
 * ConvInteger: its weight's codes, or uint8 ones with a zero point
 * quantized again per output channel, as MatMulInteger's are), or not
 * depthwise in an int8 model or over a DequantizeLinear with weights that
 * are int8 codes exactly (others, such as uint8 codes with a zero point,
 * stay float32 and exact).
 */
bool
pi_conv_int8_applies(const PiModel *model, const PiNode *node)
{
	const PiValue *w;
	Int8ConvPlan p;

	if (node->op != PI_OP_CONV2D ||
		(model->precision != PI_PRECISION_INT8 && !node->attrs.dynamic_int8 &&
		 (dequantized_input(model, node) == NULL || !node->int8_codes)))
		return false;
	w = &model->values[node->inputs[1]];
	if (w->data == NULL || w->rank < 3)
		return false;
	p = node_plan(model, node);
	return (node->attrs.dynamic_int8 || !(p.geo.cg == 1 && p.geo.mg == 1)) &&
		4 * p.kgroups <= PI_INT8_MAX_K;
}

/* Floats (4 bytes each) that the node's packed weights take: codes, then scale and sums per channel. */
int64_t
pi_conv_int8_packed_floats(const PiModel *model, const PiNode *node)
{
	Int8ConvPlan p = node_plan(model, node);

	return p.geo.m * p.kgroups + 2 * p.geo.m;
}

/* The code of tap (ci, ki, kj) of a weight row within the row's 4 * kgroups bytes. */
static int64_t
code_at(const Int8ConvPlan *p, int64_t ci, int ki, int kj)
{
	if (p->x4)
		return ((ci * p->kh + ki) * p->kx4 + kj / 4) * 4 + kj % 4;
	return ((ci / 4) * p->geo.taps + (int64_t) ki * p->kw + kj) * 4 + ci % 4;
}

/*
 * Quantizes and packs the node's weights into dst: per output channel, or
 * with the weight's one scale in a QDQ model or a quantize_dynamic layer
 * where it has one (the file's codes); then the scales, then the sums of
 * each row's codes.
 */
void
pi_conv_int8_pack(const PiModel *model, const PiNode *node, void *dst)
{
	const PiValue *wv = &model->values[node->inputs[1]];
	Int8ConvPlan p = node_plan(model, node);
	int64_t		kb = 4 * p.kgroups;
	int64_t		kdim = p.geo.cg * p.geo.taps;
	int8_t	   *q = dst;
	float	   *scale = (float *) (q + p.geo.m * kb);
	int32_t    *wsum = (int32_t *) (scale + p.geo.m);
	float		whole = dequantized_input(model, node) != NULL || node->attrs.dynamic_int8 ?
		pi_int8_whole_scale(wv->data, wv->numel, 1.0f) : 0.0f;

	memset(q, 0, p.geo.m * kb);
	for (int64_t m = 0; m < p.geo.m; m++)
	{
		const float *w = wv->data + m * kdim;
		float		amax = 0.0f,
					inv;
		bool		finite = true;

		for (int64_t k = 0; k < kdim; k++)
		{
			amax = fmaxf(amax, fabsf(w[k]));
			finite &= isfinite(w[k]) != 0;
		}
		if (whole > 0.0f)
			amax = whole * 127.0f;
		/* a channel with a NaN or an infinity gives NaN */
		scale[m] = finite ? amax / 127.0f : NAN;
		inv = finite && amax > 0.0f ? 127.0f / amax : 0.0f;
		wsum[m] = 0;
		for (int64_t ci = 0; ci < p.geo.cg; ci++)
			for (int ki = 0; ki < p.kh; ki++)
				for (int kj = 0; kj < p.kw; kj++)
				{
					int32_t		r = pi_int8_code(w[(ci * p.kh + ki) * p.kw + kj] * inv);

					q[m * kb + code_at(&p, ci, ki, kj)] = (int8_t) r;
					wsum[m] += r;
				}
	}
}

/* Scratch bytes the node's int8 convolution needs (one image at a time). */
int64_t
pi_conv_int8_scratch_bytes(const PiModel *model, const PiNode *node)
{
	return node_plan(model, node).total;
}

/* Byte offsets of each k-group's bytes of position 0 within a group's layout. */
static void
group_offsets(const Int8ConvPlan *p, const PiAttrs *at, int64_t *off)
{
	for (int64_t set = 0; set < p->sets; set++)
		for (int ki = 0; ki < p->kh; ki++)
		{
			if (p->x4)
			{
				for (int64_t x4 = 0; x4 < p->kx4; x4++)
					off[(set * p->kh + ki) * p->kx4 + x4] = set * p->plane_bytes +
						4 * (ki * p->wq + 4 * x4);
				continue;
			}
			for (int kj = 0; kj < p->kw; kj++)
			{
				int64_t		dy = (int64_t) ki * at->dilations[0],
							dx = (int64_t) kj * at->dilations[1];

				off[set * p->geo.taps + (int64_t) ki * p->kw + kj] =
					(set * p->phases + (dy % p->sy) * p->sx + dx % p->sx) * p->plane_bytes +
					4 * ((dy / p->sy) * p->wq + dx / p->sx);
			}
		}
}

/*
 * Per vector of 16 positions: the bits of the positions that are outputs
 * (within the output's width), and the output index of the first of them.
 */
static void
output_runs(const Int8ConvPlan *p, uint16_t *vmask, int64_t *vout)
{
	for (int64_t v = 0; v < p->nvec; v++)
	{
		vmask[v] = 0;
		vout[v] = 0;
		for (int l = 15; l >= 0; l--)
		{
			int64_t		q = 16 * v + l;

			if (q < p->npos && q % p->wq < p->geo.ow)
			{
				vmask[v] |= (uint16_t) (1u << l);
				vout[v] = q / p->wq * p->geo.ow + q % p->wq;
			}
		}
	}
}

/*
 * The step and code of 0.0 of an image: DynamicQuantizeLinear's of its
 * range, or the DequantizeLinear's (whose outputs are exact multiples of
 * its scale); xs the step, or NaN for an image that is not finite.
 */
static void
image_scale(const PiInt8ConvKernels *k, const PiNode *dq, const float *x, int64_t n, float *xs,
			float *step, int32_t *zero)
{
	float		lo,
				hi,
				z;

	if (!k->range(x, n, &lo, &hi))
	{
		*xs = NAN;
		*step = 1.0f;
		*zero = 0;
		return;
	}
	if (dq != NULL)
	{
		*xs = *step = dq->attrs.quant_scale;
		*zero = dq->attrs.quant_zero_point + (dq->attrs.quant_signed ? 128 : 0);
		return;
	}
	pi_int8_dynamic_step(lo, hi, step, &z);
	*xs = *step;
	*zero = (int32_t) z;
}

/* Runs a Conv2D on the int8 path (a->packed from pi_conv_int8_pack). */
void
pi_kernel_conv_int8(const PiKernelArgs *a)
{
	const PiInt8ConvKernels *k = pi_int8_conv_kernels();
	const PiAttrs *at = &a->node->attrs;
	Int8ConvPlan p = conv_plan(a->node, a->in_dims[0], a->in_rank[0], a->out_dims, a->out_rank);
	const PiNode *dq = dequantized_input(a->model, a->node);
	uint8_t    *scratch = (uint8_t *) a->scratch;
	uint8_t    *buf = scratch + p.at_buf;
	int64_t    *off = (int64_t *) (scratch + p.at_off);
	int64_t    *vout = (int64_t *) (scratch + p.at_vout);
	uint16_t   *vmask = (uint16_t *) (scratch + p.at_vmask);
	int64_t		kb = 4 * p.kgroups;
	int64_t		in_sample = p.geo.c * p.geo.h * p.geo.w;
	int64_t		plane = p.geo.oh * p.geo.ow;
	const int8_t *q = (const int8_t *) a->packed;
	const float *scale = (const float *) (q + p.geo.m * kb);
	const int32_t *wsum = (const int32_t *) (scale + p.geo.m);
	const float *bias = a->node->ninputs == 3 ? a->in[2] : NULL;
	/* a QuantizeLinear after it (with no residual before) runs in the kernels' epilogue */
	const PiAttrs *quant = a->epi != NULL && a->epi->act == PI_OP_QUANTIZE &&
		a->residual == NULL ? &a->epi->act_attrs : NULL;

	group_offsets(&p, at, off);
	output_runs(&p, vmask, vout);
	for (int64_t s = 0; s < a->batch; s++)
	{
		const float *x = a->in[0] + s * in_sample;
		PiInt8Conv	c;
		float		step;

		pi_check_interrupts();
		image_scale(k, dq, x, in_sample, &c.xs, &step, &c.zero);
		k->lay_out(&p.layout, x, step, c.zero, buf);
		c.off = off;
		c.kgroups = p.kgroups;
		c.mdim = p.geo.mg;
		c.npos = p.npos;
		c.vmask = vmask;
		c.vout = vout;
		c.ldy = plane;
		c.quant = quant;
		for (int64_t g = 0; g < p.geo.groups; g++)
		{
			int64_t		m0 = g * p.geo.mg;

			c.src = buf + g * p.group_bytes;
			c.q = q + m0 * kb;
			c.scale = scale + m0;
			c.wsum = wsum + m0;
			c.bias = bias != NULL ? bias + m0 : NULL;
			c.y = a->out + (s * p.geo.m + m0) * plane;
			k->conv(&c);
		}
		if (a->epi != NULL && quant == NULL)
			pi_epilogue_apply(a, a->out, s * p.geo.m * plane, p.geo.m * plane);
	}
}
