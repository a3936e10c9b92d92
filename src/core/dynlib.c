/*
 * dynlib.c — loading a backend's library on first use (dynlib.h).
 */
#include "core/dynlib.h"

#include <dlfcn.h>

typedef void (*mr_fnptr)(void);

int mr_dynlib_load(mr_dynlib *lib)
{
	pthread_mutex_lock(&lib->lock);
	if (lib->handle) {
		pthread_mutex_unlock(&lib->lock);
		return 0;
	}
	if (lib->table_size != lib->count * sizeof(mr_fnptr)) {
		pthread_mutex_unlock(&lib->lock);
		return mr_error_set(MR_ERROR, "%s: function table of %zu bytes for %zu functions", lib->soname,
				    lib->table_size, lib->count);
	}
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		pthread_mutex_unlock(&lib->lock);
		return mr_error_set(MR_ENOTSUPPORTED, "%s needs %s, which cannot be loaded: %s", lib->what, lib->soname,
				    why ? why : "unknown reason");
	}
	for (size_t i = 0; i < lib->count; i++) {
		dlerror();
		void *p = dlsym(h, lib->names[i]);
		if (!p) {
			const char *why = dlerror();
			int rc = mr_error_set(MR_ENOTSUPPORTED, "%s needs %s from %s: %s", lib->what, lib->names[i],
					      lib->soname, why ? why : "not found");
			dlclose(h);
			pthread_mutex_unlock(&lib->lock);
			return rc;
		}
		/* POSIX makes dlsym's result convertible to a function pointer; ISO C
		 * has no such conversion, so copy the representation. */
		mr_fnptr f;
		memcpy(&f, &p, sizeof(f));
		memcpy((char *)lib->table + i * sizeof(mr_fnptr), &f, sizeof(f));
	}
	lib->handle = h;
	pthread_mutex_unlock(&lib->lock);
	return 0;
}
