/* vmm/static/notls.c — the GnuTLS entry points Debian's libmicrohttpd.a refers to, for the
 * static fastvmm binary only (Makefile NOTLS).
 *
 * libmicrohttpd is built with HTTPS support, so its archive names these functions; linking
 * the real libgnutls.a statically would need libp11-kit and libunistring archives, which
 * Debian does not ship. fastvmm serves its API on a Unix socket and never passes MHD_USE_TLS,
 * so none of these is reached except gnutls_global_init() (libmicrohttpd's constructor),
 * which succeeds; every other one fails with GNUTLS_E_UNIMPLEMENTED_FEATURE (-1250). The
 * prototypes are deliberately loose: only the symbols matter to the linker, and no caller
 * in this program depends on their results. */
#include <stdlib.h>

#define GNUTLS_E_UNIMPLEMENTED_FEATURE (-1250)
#define STUB(name)                                                                                 \
	int name(void);                                                                            \
	int name(void)                                                                             \
	{                                                                                          \
		return GNUTLS_E_UNIMPLEMENTED_FEATURE;                                             \
	}

int gnutls_global_init(void);
int gnutls_global_init(void)
{
	return 0;
}
void gnutls_global_deinit(void);
void gnutls_global_deinit(void)
{
}
void *(*gnutls_malloc)(size_t) = malloc;

STUB(gnutls_alpn_set_protocols)
STUB(gnutls_bye)
STUB(gnutls_certificate_allocate_credentials)
STUB(gnutls_certificate_free_credentials)
STUB(gnutls_certificate_server_set_request)
STUB(gnutls_certificate_set_dh_params)
STUB(gnutls_certificate_set_retrieve_function2)
STUB(gnutls_certificate_set_retrieve_function3)
STUB(gnutls_certificate_set_x509_key_mem)
STUB(gnutls_certificate_set_x509_key_mem2)
STUB(gnutls_certificate_set_x509_trust_mem)
STUB(gnutls_cipher_get)
STUB(gnutls_credentials_set)
STUB(gnutls_deinit)
STUB(gnutls_dh_params_deinit)
STUB(gnutls_dh_params_import_pkcs3)
STUB(gnutls_dh_params_init)
STUB(gnutls_handshake)
STUB(gnutls_init)
STUB(gnutls_priority_deinit)
STUB(gnutls_priority_init)
STUB(gnutls_priority_set)
STUB(gnutls_protocol_get_version)
STUB(gnutls_psk_allocate_server_credentials)
STUB(gnutls_psk_free_server_credentials)
STUB(gnutls_psk_set_server_credentials_function)
STUB(gnutls_record_check_pending)
STUB(gnutls_record_get_direction)
STUB(gnutls_record_recv)
STUB(gnutls_record_send)
STUB(gnutls_session_get_ptr)
STUB(gnutls_session_set_ptr)
STUB(gnutls_strerror)
STUB(gnutls_transport_set_int2)
