/*
 * onnx_external.c
 *	  The external data file an ONNX model names, so that a server-side
 *	  loader can read it from beside the model file, and the importer's
 *	  check that all external tensors name the same file.
 */
#include <string.h>

#include "onnx_proto.h"

/* Records t's location in out, failing on a second, different location. */
static PiStatus
note_location(const OnnxTensor *t, char *out, size_t out_len, PiError *err)
{
	if (!t->external)
		return PI_OK;
	if (strlen(t->ext_location) >= out_len)
		return pi_fail(err, PI_ERR_LIMIT, "tensor \"%s\" names an external data file of %zu bytes, the limit is %zu",
					   t->name, strlen(t->ext_location), out_len - 1);
	if (out[0] != '\0' && strcmp(out, t->ext_location) != 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED,
					   "tensors refer to two external data files, \"%s\" and \"%s\"; one file is supported",
					   out, t->ext_location);
	strcpy(out, t->ext_location);
	return PI_OK;
}

/*
 * The location (file name) of the external data a decoded model's tensors
 * refer to, in out; an empty string when every tensor is stored in the
 * model.  Fails when tensors name two different files.
 */
PiStatus
onnx_external_location(const OnnxModelProto *model, char *out, size_t out_len, PiError *err)
{
	PiStatus	st = PI_OK;

	out[0] = '\0';
	for (int i = 0; st == PI_OK && i < model->graph.ninitializers; i++)
		st = note_location(&model->graph.initializers[i], out, out_len, err);
	for (int n = 0; st == PI_OK && n < model->graph.nnodes; n++)
		for (int a = 0; st == PI_OK && a < model->graph.nodes[n].nattrs; a++)
			if (model->graph.nodes[n].attrs[a].t != NULL)
				st = note_location(model->graph.nodes[n].attrs[a].t, out, out_len, err);
	return st;
}

/*
 * The location (file name) of the external data the model's tensors refer
 * to, in out; an empty string when every tensor is stored in the model.
 */
PiStatus
pi_onnx_external_location(const uint8_t *onnx, size_t len, char *out, size_t out_len,
						  PiError *err)
{
	OnnxModelProto model;
	PiStatus	st;

	out[0] = '\0';
	st = onnx_model_decode(onnx, len, &model, err);
	if (st != PI_OK)
		return st;
	st = onnx_external_location(&model, out, out_len, err);
	onnx_model_free(&model);
	return st;
}
