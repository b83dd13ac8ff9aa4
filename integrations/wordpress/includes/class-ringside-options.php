<?php
/**
 * The plugin's stored settings: the Ringside server, the connected widget, and the API token
 * (encrypted with a key derived from this site's WordPress salts, so a database dump alone
 * does not give it away; it never reaches a browser).
 *
 * @package Ringside
 */

defined( 'ABSPATH' ) || exit;

/**
 * Options of the plugin, all under one prefix (uninstall.php deletes them).
 */
final class Ringside_Options {

	/** Option names. */
	const SERVER     = 'ringside_server_url';
	const WIDGET_ID  = 'ringside_widget_id';
	const WIDGET_KEY = 'ringside_widget_key';
	const SCRIPT_URL = 'ringside_script_url';
	const TOKEN      = 'ringside_token';
	const ACCOUNT    = 'ringside_account_email';

	/** Every option the plugin stores. */
	const ALL = array( self::SERVER, self::WIDGET_ID, self::WIDGET_KEY, self::SCRIPT_URL, self::TOKEN, self::ACCOUNT );

	/**
	 * The Ringside server's base URL, without a trailing slash ('' when not set up).
	 */
	public static function server(): string {
		return untrailingslashit( (string) get_option( self::SERVER, '' ) );
	}

	/**
	 * The connected widget's id ('' when none).
	 */
	public static function widget_id(): string {
		return (string) get_option( self::WIDGET_ID, '' );
	}

	/**
	 * Whether the site has a widget to show.
	 */
	public static function connected(): bool {
		return '' !== self::server() && '' !== self::widget_id() && '' !== (string) get_option( self::WIDGET_KEY, '' );
	}

	/**
	 * The key that seals the token: from this site's auth salts.
	 */
	private static function key(): string {
		return sodium_crypto_generichash( wp_salt( 'auth' ) . '|ringside-token|' . wp_salt( 'secure_auth' ), '', SODIUM_CRYPTO_SECRETBOX_KEYBYTES );
	}

	/**
	 * Stores the API token, sealed.
	 *
	 * @param string $token The token.
	 */
	public static function set_token( string $token ): void {
		$nonce  = random_bytes( SODIUM_CRYPTO_SECRETBOX_NONCEBYTES );
		$sealed = sodium_crypto_secretbox( $token, $nonce, self::key() );
		update_option( self::TOKEN, base64_encode( $nonce . $sealed ), false );
	}

	/**
	 * The API token ('' when none, or when the salts changed since it was stored).
	 */
	public static function token(): string {
		$raw = base64_decode( (string) get_option( self::TOKEN, '' ), true );
		if ( false === $raw || strlen( $raw ) <= SODIUM_CRYPTO_SECRETBOX_NONCEBYTES ) {
			return '';
		}
		$plain = sodium_crypto_secretbox_open(
			substr( $raw, SODIUM_CRYPTO_SECRETBOX_NONCEBYTES ),
			substr( $raw, 0, SODIUM_CRYPTO_SECRETBOX_NONCEBYTES ),
			self::key()
		);
		return false === $plain ? '' : $plain;
	}

	/**
	 * Forgets everything (disconnect, uninstall).
	 */
	public static function clear(): void {
		foreach ( self::ALL as $name ) {
			delete_option( $name );
		}
	}
}
