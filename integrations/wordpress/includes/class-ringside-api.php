<?php
/**
 * Calls to the Ringside server's documented /api/v1 endpoints through the WordPress HTTP API.
 *
 * @package Ringside
 */

defined( 'ABSPATH' ) || exit;

/**
 * A thin client: JSON in and out, errors as WP_Error with Ringside's own message.
 */
final class Ringside_Api {

	/**
	 * Sends a request to the server.
	 *
	 * @param string      $method  HTTP method.
	 * @param string      $path    Path under the server (e.g. /api/v1/widgets).
	 * @param array|null  $body    JSON body.
	 * @param array       $headers Extra headers.
	 * @param string|null $server  Server base URL (default: the stored one).
	 * @return array|WP_Error { status, body (decoded JSON), cookies } or an error.
	 */
	public static function request( string $method, string $path, ?array $body = null, array $headers = array(), ?string $server = null ) {
		$server = untrailingslashit( $server ?? Ringside_Options::server() );
		if ( '' === $server ) {
			return new WP_Error( 'ringside_not_set_up', __( 'Ringside is not set up yet.', 'ringside' ) );
		}
		$args = array(
			'method'      => $method,
			'timeout'     => 15,
			'redirection' => 0,
			'headers'     => array_merge( array( 'Accept' => 'application/json' ), $headers ),
		);
		if ( null !== $body ) {
			$args['headers']['Content-Type'] = 'application/json';
			$args['body']                    = wp_json_encode( $body );
		}
		$resp = wp_remote_request( $server . $path, $args );
		if ( is_wp_error( $resp ) ) {
			return $resp;
		}
		$status  = (int) wp_remote_retrieve_response_code( $resp );
		$decoded = json_decode( (string) wp_remote_retrieve_body( $resp ), true );
		if ( $status >= 400 ) {
			$message = is_array( $decoded ) && isset( $decoded['error']['message'] )
				? (string) $decoded['error']['message']
				/* translators: %d: HTTP status code. */
				: sprintf( __( 'The Ringside server answered HTTP %d.', 'ringside' ), $status );
			return new WP_Error( 'ringside_http_' . $status, $message, array( 'status' => $status ) );
		}
		return array(
			'status'  => $status,
			'body'    => is_array( $decoded ) ? $decoded : array(),
			'cookies' => wp_remote_retrieve_cookies( $resp ),
		);
	}

	/**
	 * A request with the stored API token.
	 *
	 * @param string     $method HTTP method.
	 * @param string     $path   Path under /api/v1.
	 * @param array|null $body   JSON body.
	 * @return array|WP_Error
	 */
	public static function authed( string $method, string $path, ?array $body = null ) {
		$token = Ringside_Options::token();
		if ( '' === $token ) {
			return new WP_Error( 'ringside_no_token', __( 'Ringside is not connected: run the setup again.', 'ringside' ) );
		}
		return self::request( $method, '/api/v1' . $path, $body, array( 'Authorization' => 'Bearer ' . $token ) );
	}
}
