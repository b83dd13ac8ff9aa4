<?php
/**
 * The widget on every front-end page while the plugin is active and connected (deactivating
 * the plugin removes it: nothing is written into themes or content).
 *
 * @package Ringside
 */

defined( 'ABSPATH' ) || exit;

/**
 * Enqueues the Ringside widget script with its widget id and key.
 */
final class Ringside_Frontend {

	/** Script handle. */
	const HANDLE = 'ringside-widget';

	/**
	 * Hooks.
	 */
	public static function init(): void {
		add_action( 'wp_enqueue_scripts', array( __CLASS__, 'enqueue' ) );
		add_filter( 'script_loader_tag', array( __CLASS__, 'tag' ), 10, 3 );
	}

	/**
	 * The widget's script, in the footer.
	 */
	public static function enqueue(): void {
		if ( ! Ringside_Options::connected() ) {
			return;
		}
		$src = (string) get_option( Ringside_Options::SCRIPT_URL, Ringside_Options::server() . '/widget.js' );
		wp_enqueue_script( self::HANDLE, $src, array(), null, true ); // phpcs:ignore WordPress.WP.EnqueuedResourceParameters.MissingVersion -- the server serves its own current version.
	}

	/**
	 * The script tag with the widget's data attributes, loaded async.
	 *
	 * @param string $tag    The tag WordPress made.
	 * @param string $handle Its handle.
	 * @param string $src    Its source.
	 */
	public static function tag( string $tag, string $handle, string $src ): string {
		if ( self::HANDLE !== $handle ) {
			return $tag;
		}
		return sprintf(
			'<script src="%s" data-widget-id="%s" data-widget-key="%s" async></script>' . "\n",
			esc_url( $src ),
			esc_attr( Ringside_Options::widget_id() ),
			esc_attr( (string) get_option( Ringside_Options::WIDGET_KEY, '' ) )
		);
	}
}
