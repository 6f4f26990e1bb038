/*
 * conv_winograd.c
 *	  3x3 stride-1 convolutions by Winograd's F(2x2, 3x3): each 2x2 block
 *	  of outputs ("tile") from its 4x4 input patch with 16 products per
 *	  input and output channel instead of 36, so 2.25 times fewer
 *	  multiply-adds than the direct GEMM.
 *
 * The executor transforms the weights once (U = G g G^T, 16 matrices
 * [M, C], packed for the GEMM tiles).  Per sample the input is split,
 * padded, into 8 planes per channel (by row parity and column mod 4 of the
 * patch, at 2 pixels per tile; each pair of vectors of a padded row loaded
 * from the input directly), so that each of the 16 inputs of consecutive
 * tiles, across tile rows, is one contiguous run; then per panel of tiles
 * (2 vectors): the input transform V = B^T d B gives 16 matrices [C,
 * panel], one GEMM tile per block of output channels multiplies each by its
 * U, and the output transform Y = A^T M A, a vector of tiles at a time
 * whatever tile rows it spans, adds the bias and applies the fused residual
 * and activation as it writes each run of outputs (masked stores at shifted
 * bases).  The transforms are the vector kernels wino_input and wino_output
 * (cpu.h).
 */
#include "cpu.h"

/* Whether a Conv2D runs by Winograd: 3x3, stride 1, no dilation or groups, enough channels. */
bool
pi_winograd_fits(const PiAttrs *at, const PiConvGeometry *geo)
{
	return at->kernel[0] == 3 && at->kernel[1] == 3 && at->strides[0] == 1 && at->strides[1] == 1 &&
		at->dilations[0] == 1 && at->dilations[1] == 1 && geo->groups == 1 &&
		geo->c >= 8 && geo->m >= 8 && geo->oh >= 4 && geo->ow >= 4;
}

/*
 * Tiles down and across a Winograd convolution, and the floats of each of
 * the 8 planes its padded input splits into per channel: (ty + 1) x tx.
 */
static void
tiles(const PiConvGeometry *geo, int64_t *ty, int64_t *tx, int64_t *plane)
{
	*ty = (geo->oh + 1) / 2;
	*tx = (geo->ow + 1) / 2;
	*plane = (*ty + 1) * *tx;
}

/* Scratch floats of a Winograd convolution: split sample, V and M panels, row offsets. */
int64_t
pi_winograd_scratch_floats(const PiConvGeometry *geo, int vw)
{
	int64_t		ty,
				tx,
				plane;
	int			panel = 2 * vw;

	tiles(geo, &ty, &tx, &plane);
	return pi_line_up(geo->c * 8 * plane) + pi_line_up(16 * geo->c * panel) +
		pi_line_up(16 * geo->m * panel) + pi_line_up(2 * geo->c);
}

/*
 * Transforms weights [M, C, 3, 3] into U = G g G^T, 16 matrices [M, C],
 * each packed per block of rows column by column for the GEMM tiles.
 */
void
pi_winograd_pack(const float *w, int64_t m, int64_t c, int mr_max, float *dst)
{
	int64_t		nb = pi_row_blocks(m, mr_max);

	for (int64_t b = 0; b < nb; b++)
	{
		int64_t		m0;
		int			mr;

		pi_row_block(m, nb, b, &m0, &mr);
		for (int i = 0; i < mr; i++)
			for (int64_t ch = 0; ch < c; ch++)
			{
				const float *g = w + ((m0 + i) * c + ch) * 9;
				float		t[4][3];

				/* t = G g, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1] */
				for (int j = 0; j < 3; j++)
				{
					t[0][j] = g[j];
					t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
					t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
					t[3][j] = g[6 + j];
				}
				/* U = t G^T */
				for (int r = 0; r < 4; r++)
				{
					float		u[4] = {t[r][0], 0.5f * (t[r][0] + t[r][1] + t[r][2]),
					0.5f * (t[r][0] - t[r][1] + t[r][2]), t[r][2]};

					for (int q = 0; q < 4; q++)
						dst[((4 * r + q) * m + m0) * c + ch * mr + i] = u[q];
				}
			}
	}
}

/*
 * Splits tiles [t0, t0 + n) into runs along tile rows of tx tiles, with
 * where their outputs go in an output plane; returns how many.
 */
static int
tile_runs(const PiConvGeometry *geo, int64_t t0, int n, int64_t tx, PiWinoRun *run)
{
	int			nrun = 0;

	for (int lane = 0; lane < n;)
	{
		int64_t		t = t0 + lane,
					oy = 2 * (t / tx),
					ox = 2 * (t % tx);
		PiWinoRun  *r = &run[nrun++];

		r->lane = lane;
		r->count = (int) (tx - t % tx < n - lane ? tx - t % tx : n - lane);
		r->rows = geo->oh - oy < 2 ? 1 : 2;
		r->cols = (int) (geo->ow - ox < 2 * r->count ? geo->ow - ox : 2 * r->count);
		r->out = oy * geo->ow + ox;
		lane += r->count;
	}
	return nrun;
}

/* Conv2D over the batch by Winograd F(2x2, 3x3) (pi_winograd_fits). */
void
pi_winograd_run(const PiKernelArgs *a, const PiConvGeometry *geo)
{
	const PiCpuKernels *k = pi_cpu();
	const PiAttrs *at = &a->node->attrs;
	int			panel = 2 * k->vw;
	int64_t		ty,
				tx,
				split;
	int64_t		nb = pi_row_blocks(geo->m, k->mr_max);
	int64_t		plane = geo->oh * geo->ow;
	float	   *src = a->scratch;
	float	   *v,
			   *mt;
	int64_t    *kpack;
	PiOp		act = a->epi ? a->epi->act : PI_OP_IDENTITY;
	PiTileOut	o = {0};
	PiWinoRun	run[PI_CPU_MAX_PANEL];

	tiles(geo, &ty, &tx, &split);
	v = src + pi_line_up(geo->c * 8 * split);
	mt = v + pi_line_up(16 * geo->c * panel);
	kpack = (int64_t *) (mt + pi_line_up(16 * geo->m * panel));
	for (int64_t ch = 0; ch < geo->c; ch++)
		kpack[ch] = ch * panel;
	o.act = pi_tile_act(act) ? act : PI_OP_IDENTITY;
	o.lo = act == PI_OP_CLIP ? a->epi->act_attrs.clip_min : 0.0f;
	o.hi = act == PI_OP_CLIP ? a->epi->act_attrs.clip_max : 0.0f;
	o.alpha = act == PI_OP_LEAKY_RELU ? a->epi->act_attrs.alpha : 0.0f;
	for (int64_t s = 0; s < a->batch; s++)
	{
		float	   *y = a->out + s * geo->m * plane;

		o.res = a->residual ? a->residual + s * geo->m * plane : NULL;
		k->wino_split(src, ty, tx, a->in[0] + s * geo->c * geo->h * geo->w, geo->h, geo->w,
					  at->pads[0], at->pads[1], geo->c);
		for (int64_t t0 = 0; t0 < ty * tx; t0 += panel)
		{
			int			n = (int) (ty * tx - t0 < panel ? ty * tx - t0 : panel);
			int			nv = n > k->vw ? 2 : 1;
			int64_t		mrs = nv * k->vw;	/* floats per row of a product matrix */
			int			nrun = tile_runs(geo, t0, n, tx, run);

			pi_check_interrupts();
			k->wino_input(v, geo->c * panel, panel, src + t0, tx, split, 8 * split, geo->c, n);
			for (int xi = 0; xi < 16; xi++)
				for (int64_t b = 0; b < nb; b++)
				{
					int64_t		m0;
					int			mr;

					pi_row_block(geo->m, nb, b, &m0, &mr);
					k->gemm_tile(a->packed + (xi * geo->m + m0) * geo->c, mr, geo->c,
								 v + xi * geo->c * panel, kpack, NULL, nv, n, NULL,
								 mt + (xi * geo->m + m0) * mrs, NULL);
				}
			k->wino_output(y, plane, geo->ow, run, nrun, mt, geo->m * mrs, mrs, geo->m, n,
						   a->node->ninputs == 3 ? a->in[2] : NULL, &o);
			for (int64_t m = 0; m < geo->m && !pi_tile_act(act); m++)
				for (int i = 0; i < nrun; i++)
					for (int r = 0; r < run[i].rows; r++)
					{
						float	   *yr = y + m * plane + run[i].out + r * geo->ow;

						pi_unary_apply(act, &a->epi->act_attrs, yr, yr, run[i].cols);
					}
		}
	}
}
