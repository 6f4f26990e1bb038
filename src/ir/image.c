/*
 * image.c
 *	  A finalized model as one flat, position-independent block of bytes, and
 *	  a model that runs straight from such a block without copying weights.
 *
 * The shared-memory cache stores each loaded model version as an image, and
 * every process attaches to it wherever the block is mapped: attaching
 * copies the small graph structures (values, nodes, plan) into malloc'd
 * memory and points weight data into the image, so all processes share one
 * copy of the weights.  Only weights that a live node reads are stored (a
 * folded batch norm's parameters are not).
 *
 * Layout: header, value records, node records, node input lists, execution
 * order, buffer sizes, input transform, the string pool of names, the
 * model's strings (categories and labels, src/ir/strings.c), then the
 * weights, each aligned to PI_IMAGE_ALIGN bytes.  A model that shares
 * weights with a base model (the same network at another sequence length,
 * pi_model_share_weights) leaves those out: its values record that their
 * data is the base's, and attaching takes it from the base by name.  An image is trusted (its
 * writer is this file), but attaching still checks every offset against the
 * image's length, so a damaged block fails cleanly instead of crashing.
 */
#include <stdlib.h>
#include <string.h>

#include "pi_ir.h"

#define PI_IMAGE_MAGIC 0x50494d31	/* "PIM1" */
#define DATA_NONE (-1)			/* ImageValue.data_offset: no data */
#define DATA_FROM_BASE (-2)		/* the base model's weight of that name */

typedef struct ImageHeader
{
	uint32_t	magic;
	uint32_t	header_size;	/* sizeof(ImageHeader): a layout check */
	int64_t		total_len;
	int32_t		nvalues;
	int32_t		nnodes;
	int32_t		norder;
	int32_t		norder_fused;
	int32_t		nbuffers;
	int32_t		ninputs;
	int32_t		noutputs;
	int32_t		inputs[16];
	int32_t		outputs[16];
	int64_t		scratch_row_elems;
	int64_t		input_transform_len;
	int64_t		parameter_count;
	int64_t		precision;		/* a PiPrecision */
	int64_t		order_offset;
	int64_t		buffers_offset;
	int64_t		scale_offset;
	int64_t		shift_offset;
	int64_t		strings_offset; /* the model's strings (src/ir/strings.c) */
	int64_t		strings_len;
} ImageHeader;

/* A value as stored: the in-memory record plus where its name and data are. */
typedef struct ImageValue
{
	PiValue		value;			/* name and data pointers are not used */
	int64_t		name_offset;
	int64_t		data_offset;	/* or DATA_NONE, DATA_FROM_BASE */
} ImageValue;

typedef struct ImageNode
{
	PiNode		node;			/* name and inputs pointers are not used */
	int64_t		name_offset;
	int64_t		inputs_offset;
} ImageNode;

/* A write position in an image; with base NULL it only measures. */
typedef struct ImageCursor
{
	uint8_t    *base;
	int64_t		pos;
} ImageCursor;

/* Appends len bytes (or reserves them when measuring); returns their offset. */
static int64_t
put(ImageCursor *c, const void *src, int64_t len)
{
	int64_t		at = c->pos;

	if (c->base != NULL && len > 0)
		memcpy(c->base + at, src, len);
	c->pos += len;
	return at;
}

/* Pads the position to the image alignment. */
static void
align(ImageCursor *c)
{
	int64_t		pad = (PI_IMAGE_ALIGN - c->pos % PI_IMAGE_ALIGN) % PI_IMAGE_ALIGN;

	if (c->base != NULL)
		memset(c->base + c->pos, 0, pad);
	c->pos += pad;
}

/* Whether value i of m is a weight whose data is its weights_base's. */
static bool
from_base(const PiModel *m, int i)
{
	const PiValue *v = &m->values[i];
	int			j;

	if (m->weights_base == NULL || v->kind != PI_VALUE_WEIGHT || v->data == NULL)
		return false;
	j = pi_model_find_value(m->weights_base, v->name);
	return j >= 0 && m->weights_base->values[j].data == v->data;
}

/* Writes (or measures, with base NULL) the image of m; returns its length. */
static int64_t
write_image(const PiModel *m, const bool *used, uint8_t *base)
{
	ImageCursor c = {base, 0};
	ImageHeader h;
	int64_t		values_at,
				nodes_at,
				order_at,
				buffers_at,
				scale_at,
				shift_at,
				strings_at;
	int64_t    *name_at,
			   *data_at,
			   *node_name_at,
			   *inputs_at;
	int64_t		transform_bytes = (int64_t) sizeof(float) * m->input_transform_len;
	int64_t		strings_len = pi_strings_image_size(m);

	name_at = calloc(m->nvalues + 1, sizeof(int64_t));
	data_at = calloc(m->nvalues + 1, sizeof(int64_t));
	node_name_at = calloc(m->nnodes + 1, sizeof(int64_t));
	inputs_at = calloc(m->nnodes + 1, sizeof(int64_t));
	if (name_at == NULL || data_at == NULL || node_name_at == NULL || inputs_at == NULL)
	{
		free(name_at);
		free(data_at);
		free(node_name_at);
		free(inputs_at);
		return -1;
	}

	/* fixed-size records first; their offsets are filled in at the end */
	c.pos = sizeof(ImageHeader);
	align(&c);
	values_at = c.pos;
	c.pos += (int64_t) sizeof(ImageValue) * m->nvalues;
	align(&c);
	nodes_at = c.pos;
	c.pos += (int64_t) sizeof(ImageNode) * m->nnodes;
	align(&c);

	for (int i = 0; i < m->nnodes; i++)
		inputs_at[i] = put(&c, m->nodes[i].inputs, sizeof(int) * m->nodes[i].ninputs);
	order_at = put(&c, m->order, sizeof(int) * m->norder);
	buffers_at = put(&c, m->buffer_row_elems, sizeof(int64_t) * m->nbuffers);
	scale_at = put(&c, m->input_scale, transform_bytes);
	shift_at = put(&c, m->input_shift, transform_bytes);
	for (int i = 0; i < m->nvalues; i++)
		name_at[i] = put(&c, m->values[i].name, strlen(m->values[i].name) + 1);
	for (int i = 0; i < m->nnodes; i++)
		node_name_at[i] = put(&c, m->nodes[i].name, strlen(m->nodes[i].name) + 1);
	strings_at = c.pos;
	c.pos += strings_len;
	if (base != NULL)
		pi_strings_image_write(m, base + strings_at);
	for (int i = 0; i < m->nvalues; i++)
	{
		data_at[i] = DATA_NONE;
		if (used[i] && from_base(m, i))
			data_at[i] = DATA_FROM_BASE;
		else if (used[i] && m->values[i].data != NULL)
		{
			align(&c);
			data_at[i] = put(&c, m->values[i].data, (int64_t) sizeof(float) * m->values[i].numel);
		}
	}
	align(&c);

	if (base != NULL)
	{
		memset(&h, 0, sizeof(h));
		h.magic = PI_IMAGE_MAGIC;
		h.header_size = sizeof(ImageHeader);
		h.total_len = c.pos;
		h.nvalues = m->nvalues;
		h.nnodes = m->nnodes;
		h.norder = m->norder;
		h.norder_fused = m->norder_fused;
		h.nbuffers = m->nbuffers;
		h.ninputs = m->ninputs;
		h.noutputs = m->noutputs;
		memcpy(h.inputs, m->inputs, sizeof(h.inputs));
		memcpy(h.outputs, m->outputs, sizeof(h.outputs));
		h.scratch_row_elems = m->scratch_row_elems;
		h.input_transform_len = m->input_transform_len;
		h.parameter_count = m->parameter_count;
		h.precision = m->precision;
		h.order_offset = order_at;
		h.buffers_offset = buffers_at;
		h.scale_offset = scale_at;
		h.shift_offset = shift_at;
		h.strings_offset = strings_at;
		h.strings_len = strings_len;
		memcpy(base, &h, sizeof(h));
		for (int i = 0; i < m->nvalues; i++)
		{
			ImageValue *iv = (ImageValue *) (base + values_at) + i;

			memset(iv, 0, sizeof(*iv));
			iv->value = m->values[i];
			iv->value.name = NULL;
			iv->value.data = NULL;
			iv->name_offset = name_at[i];
			iv->data_offset = data_at[i];
		}
		for (int i = 0; i < m->nnodes; i++)
		{
			ImageNode  *in = (ImageNode *) (base + nodes_at) + i;

			memset(in, 0, sizeof(*in));
			in->node = m->nodes[i];
			in->node.name = NULL;
			in->node.inputs = NULL;
			in->name_offset = node_name_at[i];
			in->inputs_offset = inputs_at[i];
		}
	}
	free(name_at);
	free(data_at);
	free(node_name_at);
	free(inputs_at);
	return c.pos;
}

/* Bytes an image of the finalized model m takes; -1 when out of memory. */
int64_t
pi_model_image_size(const PiModel *m)
{
	bool	   *used = pi_model_weights_in_use(m);
	int64_t		len;

	if (used == NULL)
		return -1;
	len = write_image(m, used, NULL);
	free(used);
	return len;
}

/*
 * Writes the image of the finalized model m into dst, which has
 * pi_model_image_size(m) bytes and is aligned to PI_IMAGE_ALIGN.
 */
PiStatus
pi_model_image_write(const PiModel *m, uint8_t *dst, PiError *err)
{
	bool	   *used;

	if (!m->finalized)
		return pi_fail(err, PI_ERR_INVALID, "model is not finalized");
	used = pi_model_weights_in_use(m);
	if (used == NULL || write_image(m, used, dst) < 0)
	{
		free(used);
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	}
	free(used);
	return PI_OK;
}

/* Reads len bytes at offset of an image into dst, or fails. */
static bool
take(const uint8_t *image, int64_t image_len, int64_t offset, void *dst, int64_t len)
{
	if (offset < 0 || len < 0 || offset > image_len || len > image_len - offset)
		return false;
	if (len > 0)
		memcpy(dst, image + offset, len);
	return true;
}

/* A malloc'd copy of the NUL-terminated string at offset, or NULL. */
static char *
take_string(const uint8_t *image, int64_t image_len, int64_t offset)
{
	const uint8_t *end;

	if (offset < 0 || offset >= image_len)
		return NULL;
	end = memchr(image + offset, '\0', image_len - offset);
	if (end == NULL || end - (image + offset) >= PI_MAX_NAME)
		return NULL;
	return strdup((const char *) image + offset);
}

/* Allocates and reads an array of count elements of size bytes at *at. */
static void *
take_array(const uint8_t *image, int64_t image_len, int64_t *at, int64_t count, size_t size)
{
	void	   *dst;
	int64_t		len;

	if (count < 0 || !pi_mul_size(count, (int64_t) size, &len) ||
		*at < 0 || *at > image_len || len > image_len - *at)
		return NULL;
	dst = malloc(len > 0 ? len : 1);
	if (dst == NULL)
		return NULL;
	if (!take(image, image_len, *at, dst, len))
	{
		free(dst);
		return NULL;
	}
	*at += len;
	return dst;
}

/*
 * Rebuilds m from the image records, marking in data_from_base (nvalues
 * entries) the weights that are the base's; false on any inconsistency.
 */
static bool
attach_records(PiModel *m, const ImageHeader *h, const uint8_t *image, int64_t len,
			   bool *data_from_base)
{
	int64_t		at = sizeof(ImageHeader);
	int64_t		transform = h->input_transform_len;

	at += (PI_IMAGE_ALIGN - at % PI_IMAGE_ALIGN) % PI_IMAGE_ALIGN;
	m->values = calloc(h->nvalues + 1, sizeof(PiValue));
	m->nodes = calloc(h->nnodes + 1, sizeof(PiNode));
	if (m->values == NULL || m->nodes == NULL)
		return false;
	m->values_cap = h->nvalues + 1;
	m->nodes_cap = h->nnodes + 1;
	for (int i = 0; i < h->nvalues; i++, at += sizeof(ImageValue))
	{
		ImageValue	iv;
		int64_t		bytes;

		if (!take(image, len, at, &iv, sizeof(iv)))
			return false;
		m->values[i] = iv.value;
		m->values[i].name = take_string(image, len, iv.name_offset);
		m->values[i].data = NULL;
		m->nvalues = i + 1;
		if (m->values[i].name == NULL)
			return false;
		if (iv.data_offset < DATA_FROM_BASE ||
			(iv.data_offset == DATA_FROM_BASE && iv.value.kind != PI_VALUE_WEIGHT))
			return false;
		data_from_base[i] = iv.data_offset == DATA_FROM_BASE;
		if (iv.data_offset >= 0)
		{
			if (!pi_mul_size(iv.value.numel, sizeof(float), &bytes) ||
				iv.data_offset % PI_IMAGE_ALIGN != 0 ||
				iv.data_offset > len || bytes > len - iv.data_offset)
				return false;
			m->values[i].data = (float *) (image + iv.data_offset);
		}
	}
	at += (PI_IMAGE_ALIGN - at % PI_IMAGE_ALIGN) % PI_IMAGE_ALIGN;
	for (int i = 0; i < h->nnodes; i++, at += sizeof(ImageNode))
	{
		ImageNode	in;
		int64_t		inputs_at;

		if (!take(image, len, at, &in, sizeof(in)))
			return false;
		m->nodes[i] = in.node;
		m->nodes[i].name = take_string(image, len, in.name_offset);
		inputs_at = in.inputs_offset;
		m->nodes[i].inputs = take_array(image, len, &inputs_at, in.node.ninputs, sizeof(int));
		m->nnodes = i + 1;
		if (m->nodes[i].name == NULL || m->nodes[i].inputs == NULL)
			return false;
		for (int k = 0; k < in.node.ninputs; k++)
			if (m->nodes[i].inputs[k] < 0 || m->nodes[i].inputs[k] >= h->nvalues)
				return false;
		if (in.node.output < 0 || in.node.output >= h->nvalues ||
			in.node.fused_into < -1 || in.node.fused_into >= h->nnodes ||
			in.node.epilogue.output < -1 || in.node.epilogue.output >= h->nvalues ||
			in.node.epilogue.bias < -1 || in.node.epilogue.bias >= h->nvalues ||
			in.node.epilogue.residual < -1 || in.node.epilogue.residual >= h->nvalues)
			return false;
	}
	at = h->order_offset;
	m->order = take_array(image, len, &at, h->norder, sizeof(int));
	at = h->buffers_offset;
	m->buffer_row_elems = take_array(image, len, &at, h->nbuffers, sizeof(int64_t));
	if (m->order == NULL || m->buffer_row_elems == NULL)
		return false;
	for (int pos = 0; pos < h->norder; pos++)
		if (m->order[pos] < 0 || m->order[pos] >= h->nnodes)
			return false;
	if (h->strings_offset < 0 || h->strings_len < 0 || h->strings_offset > len ||
		h->strings_len > len - h->strings_offset ||
		!pi_strings_image_read(m, image + h->strings_offset, h->strings_len))
		return false;
	if (transform > 0)
	{
		at = h->scale_offset;
		m->input_scale = take_array(image, len, &at, transform, sizeof(float));
		at = h->shift_offset;
		m->input_shift = take_array(image, len, &at, transform, sizeof(float));
		if (m->input_scale == NULL || m->input_shift == NULL)
			return false;
	}
	return true;
}

/*
 * Points the weights an image left to its base at base's data of the same
 * name, kind and shape (data_from_base lists them); fails naming the first
 * that base lacks.
 */
static PiStatus
take_from_base(PiModel *m, const bool *data_from_base, const PiModel *base, PiError *err)
{
	for (int i = 0; i < m->nvalues; i++)
	{
		PiValue    *v = &m->values[i];
		const PiValue *b;
		int			j;

		if (!data_from_base[i])
			continue;
		if (base == NULL)
			return pi_fail(err, PI_ERR_INVALID,
						   "model image takes weight \"%s\" from a base model, and none was given",
						   v->name);
		j = pi_model_find_value(base, v->name);
		b = j >= 0 ? &base->values[j] : NULL;
		if (b == NULL || b->kind != PI_VALUE_WEIGHT || b->data == NULL || b->rank != v->rank ||
			b->numel != v->numel || memcmp(b->dims, v->dims, sizeof(v->dims[0]) * v->rank) != 0)
			return pi_fail(err, PI_ERR_INVALID,
						   "model image takes weight \"%s\" from its base model, which has no weight of that name and shape",
						   v->name);
		v->data = b->data;
	}
	m->weights_base = base;
	return PI_OK;
}

/*
 * A model that runs from an image written by pi_model_image_write.  Its
 * weights point into the image, which must stay mapped and unchanged for
 * the model's lifetime; pi_model_free does not free them.
 */
PiModel *
pi_model_image_attach(const uint8_t *image, int64_t len, PiError *err)
{
	return pi_model_image_attach_over(image, len, NULL, err);
}

/*
 * The same for an image whose weights shared with base are base's (NULL:
 * none may be).
 */
PiModel *
pi_model_image_attach_over(const uint8_t *image, int64_t len, const PiModel *base,
						   PiError *err)
{
	ImageHeader h;
	PiModel    *m;
	bool	   *data_from_base;

	if (((uintptr_t) image) % PI_IMAGE_ALIGN != 0 ||
		!take(image, len, 0, &h, sizeof(h)) || h.magic != PI_IMAGE_MAGIC ||
		h.header_size != sizeof(ImageHeader) || h.total_len != len ||
		h.nvalues < 0 || h.nnodes < 0 || h.norder < 0 || h.norder > h.nnodes ||
		h.norder_fused < 0 || h.norder_fused > h.norder ||
		h.nbuffers < 0 || h.ninputs < 1 || h.ninputs > 16 ||
		h.noutputs < 1 || h.noutputs > 16 || h.input_transform_len < 0 ||
		h.precision < PI_PRECISION_FP32 || h.precision > PI_PRECISION_LAST ||
		h.nvalues > len / (int64_t) sizeof(ImageValue) ||
		h.nnodes > len / (int64_t) sizeof(ImageNode) ||
		h.nbuffers > len / (int64_t) sizeof(int64_t) ||
		h.input_transform_len > len / (int64_t) sizeof(float))
	{
		pi_fail(err, PI_ERR_CORRUPT, "model image is damaged");
		return NULL;
	}
	m = pi_model_new();
	data_from_base = calloc(h.nvalues + 1, sizeof(bool));
	if (m == NULL || data_from_base == NULL)
	{
		pi_model_free(m);
		free(data_from_base);
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	m->weights_borrowed = true;
	if (!attach_records(m, &h, image, len, data_from_base))
	{
		pi_model_free(m);
		free(data_from_base);
		pi_fail(err, PI_ERR_CORRUPT, "model image is damaged");
		return NULL;
	}
	if (take_from_base(m, data_from_base, base, err) != PI_OK)
	{
		pi_model_free(m);
		free(data_from_base);
		return NULL;
	}
	free(data_from_base);
	for (int i = 0; i < h.ninputs; i++)
		if (h.inputs[i] < 0 || h.inputs[i] >= h.nvalues)
			goto damaged;
	for (int i = 0; i < h.noutputs; i++)
		if (h.outputs[i] < 0 || h.outputs[i] >= h.nvalues)
			goto damaged;
	memcpy(m->inputs, h.inputs, sizeof(m->inputs));
	memcpy(m->outputs, h.outputs, sizeof(m->outputs));
	m->ninputs = h.ninputs;
	m->noutputs = h.noutputs;
	m->norder = h.norder;
	m->norder_fused = h.norder_fused;
	m->nbuffers = h.nbuffers;
	m->scratch_row_elems = h.scratch_row_elems;
	m->input_transform_len = h.input_transform_len;
	m->parameter_count = h.parameter_count;
	m->precision = (PiPrecision) h.precision;
	if (!pi_model_index_names(m))
	{
		pi_model_free(m);
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	m->finalized = true;
	return m;

damaged:
	pi_model_free(m);
	pi_fail(err, PI_ERR_CORRUPT, "model image is damaged");
	return NULL;
}
