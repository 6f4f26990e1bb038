/*
 * onnx_attrs.c
 *	  Lookup of a decoded ONNX node's attributes by name, with defaults.
 */
#include <string.h>

#include "onnx_import.h"

/* The attribute of this name, or NULL. */
const OnnxAttr *
onnx_attr(const OnnxNode *n, const char *name)
{
	for (int i = 0; i < n->nattrs; i++)
		if (strcmp(n->attrs[i].name, name) == 0)
			return &n->attrs[i];
	return NULL;
}

/* An integer attribute, or dflt when absent. */
int64_t
onnx_attr_int(const OnnxNode *n, const char *name, int64_t dflt)
{
	const OnnxAttr *a = onnx_attr(n, name);

	return a ? a->i : dflt;
}

/* A float attribute, or dflt when absent. */
float
onnx_attr_float(const OnnxNode *n, const char *name, float dflt)
{
	const OnnxAttr *a = onnx_attr(n, name);

	return a ? a->f : dflt;
}

/* A string attribute, or dflt when absent. */
const char *
onnx_attr_string(const OnnxNode *n, const char *name, const char *dflt)
{
	const OnnxAttr *a = onnx_attr(n, name);

	return (a && a->s) ? a->s : dflt;
}

/* An integer-list attribute: its length (-1 when absent) and values. */
int
onnx_attr_ints(const OnnxNode *n, const char *name, const int64_t **values)
{
	const OnnxAttr *a = onnx_attr(n, name);

	*values = a ? a->ints : NULL;
	return a ? a->nints : -1;
}

/* The node's name for messages: its name, else its first output's. */
const char *
onnx_node_label(const OnnxNode *n)
{
	if (n->name[0] != '\0' || n->noutputs == 0)
		return n->name;
	return n->outputs[0];
}
