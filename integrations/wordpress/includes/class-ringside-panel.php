<?php
/**
 * The operator panel in wp-admin: live visitors, waiting calls, chats with replies, callback
 * forms and voice notes, internal notes, sending a visitor to a page, lead status, call
 * history, the site's pages and analytics. The browser talks to this plugin's REST routes
 * (a WordPress nonce, the edit_posts capability); they call the Ringside server's documented
 * /api/v1 endpoints with the stored token, which never reaches the browser. Voice and video
 * answer open the Ringside dashboard in a new window through a signed link.
 *
 * @package Ringside
 */

defined( 'ABSPATH' ) || exit;

/**
 * The panel page and its REST routes.
 */
final class Ringside_Panel {

	/** Page slug (also the Ringside menu). */
	const PAGE = 'ringside';

	/** REST namespace. */
	const NS = 'ringside/v1';

	/** Who may use the panel. */
	const CAP = 'edit_posts';

	/**
	 * Hooks.
	 */
	public static function init(): void {
		add_action( 'admin_menu', array( __CLASS__, 'menu' ) );
		add_action( 'admin_enqueue_scripts', array( __CLASS__, 'assets' ) );
		add_action( 'rest_api_init', array( __CLASS__, 'routes' ) );
		add_action( 'admin_post_ringside_voice_note', array( __CLASS__, 'voice_note' ) );
	}

	/**
	 * A callback's voice note, relayed from the server (the token stays here).
	 */
	public static function voice_note(): void {
		if ( ! current_user_can( self::CAP ) ) {
			wp_die( esc_html__( 'You cannot use the Ringside panel.', 'ringside' ), 403 );
		}
		check_admin_referer( 'ringside_voice_note' );
		$id = (string) wp_unslash( $_GET['callback'] ?? '' );
		if ( ! self::id_arg( $id ) || '' === Ringside_Options::token() ) {
			wp_die( esc_html__( 'No such voice note.', 'ringside' ), 404 );
		}
		$resp = wp_remote_get(
			Ringside_Options::server() . '/api/v1/widgets/' . rawurlencode( Ringside_Options::widget_id() ) . '/callbacks/' . rawurlencode( $id ) . '/voice-note',
			array(
				'timeout'     => 30,
				'redirection' => 0,
				'headers'     => array( 'Authorization' => 'Bearer ' . Ringside_Options::token() ),
			)
		);
		if ( is_wp_error( $resp ) || 200 !== (int) wp_remote_retrieve_response_code( $resp ) ) {
			wp_die( esc_html__( 'The voice note could not be fetched.', 'ringside' ), 502 );
		}
		$type = (string) wp_remote_retrieve_header( $resp, 'content-type' );
		header( 'Content-Type: ' . ( preg_match( '#^audio/[a-z0-9.+-]+$#', $type ) ? $type : 'application/octet-stream' ) );
		header( 'X-Content-Type-Options: nosniff' );
		print( wp_remote_retrieve_body( $resp ) ); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- audio bytes, not HTML.
		exit;
	}

	/**
	 * The Ringside menu, opening on the panel.
	 */
	public static function menu(): void {
		add_menu_page(
			__( 'Ringside', 'ringside' ),
			__( 'Ringside', 'ringside' ),
			self::CAP,
			self::PAGE,
			array( __CLASS__, 'render' ),
			'dashicons-format-chat',
			3
		);
		add_submenu_page( self::PAGE, __( 'Ringside operator panel', 'ringside' ), __( 'Operator panel', 'ringside' ), self::CAP, self::PAGE, array( __CLASS__, 'render' ) );
	}

	/**
	 * The panel's script and style, on its page only.
	 *
	 * @param string $hook The admin page.
	 */
	public static function assets( string $hook ): void {
		if ( 'toplevel_page_' . self::PAGE !== $hook ) {
			return;
		}
		wp_enqueue_style( 'ringside-panel', RINGSIDE_URL . 'assets/panel.css', array(), RINGSIDE_VERSION );
		wp_enqueue_script( 'ringside-panel', RINGSIDE_URL . 'assets/panel.js', array( 'wp-api-fetch', 'wp-i18n' ), RINGSIDE_VERSION, true );
		wp_set_script_translations( 'ringside-panel', 'ringside', RINGSIDE_DIR . 'languages' );
		wp_localize_script(
			'ringside-panel',
			'RingsidePanel',
			array(
				'root'      => esc_url_raw( rest_url( self::NS ) ),
				'nonce'     => wp_create_nonce( 'wp_rest' ),
				'voiceNote' => esc_url_raw( wp_nonce_url( admin_url( 'admin-post.php?action=ringside_voice_note' ), 'ringside_voice_note' ) ),
				'dashboard' => esc_url_raw( Ringside_Options::server() ),
			)
		);
	}

	/**
	 * The panel page: regions the script fills.
	 */
	public static function render(): void {
		if ( ! current_user_can( self::CAP ) ) {
			wp_die( esc_html__( 'You cannot use the Ringside panel.', 'ringside' ), 403 );
		}
		echo '<div class="wrap ringside-panel"><h1>' . esc_html__( 'Ringside operator panel', 'ringside' ) . '</h1>';
		if ( '' === Ringside_Options::token() || ! Ringside_Options::connected() ) {
			echo '<div class="notice notice-warning"><p>' . esc_html__( 'Ringside is not connected yet.', 'ringside' );
			if ( current_user_can( 'manage_options' ) ) {
				echo ' <a href="' . esc_url( admin_url( 'admin.php?page=' . Ringside_Setup::PAGE ) ) . '">' . esc_html__( 'Set it up', 'ringside' ) . '</a>';
			}
			echo '</p></div></div>';
			return;
		}
		$sections = array(
			'visitors'  => __( 'Live visitors', 'ringside' ),
			'calls'     => __( 'Waiting calls', 'ringside' ),
			'chat'      => __( 'Chat', 'ringside' ),
			'callbacks' => __( 'Callbacks and voice notes', 'ringside' ),
			'contacts'  => __( 'Contacts and leads', 'ringside' ),
			'history'   => __( 'Call history', 'ringside' ),
			'pages'     => __( 'Site pages', 'ringside' ),
			'analytics' => __( 'Analytics', 'ringside' ),
		);
		echo '<p class="ringside-status" role="status" aria-live="polite"></p><div class="ringside-grid">';
		foreach ( $sections as $id => $title ) {
			echo '<section class="ringside-card" id="ringside-' . esc_attr( $id ) . '" aria-labelledby="ringside-' . esc_attr( $id ) . '-h">';
			echo '<h2 id="ringside-' . esc_attr( $id ) . '-h">' . esc_html( $title ) . '</h2><div class="ringside-body"></div></section>';
		}
		echo '</div></div>';
	}

	/**
	 * Whether the current user may use the panel.
	 */
	public static function allowed(): bool {
		return current_user_can( self::CAP );
	}

	/**
	 * A path segment as the server's ids are (letters, digits, - and _).
	 *
	 * @param mixed $v The value.
	 */
	public static function id_arg( $v ): bool {
		return is_string( $v ) && 1 === preg_match( '/^[A-Za-z0-9_-]{1,128}$/', $v );
	}

	/**
	 * The routes: each one call of the documented API on the connected widget.
	 */
	public static function routes(): void {
		$w    = static function (): string {
			return rawurlencode( Ringside_Options::widget_id() );
		};
		$get  = array(
			'live-visitors' => static fn() => '/widgets/' . $w() . '/live-visitors',
			'calls-waiting' => static fn() => '/widgets/' . $w() . '/calls-waiting',
			'callbacks'     => static fn() => '/widgets/' . $w() . '/callbacks',
			'calls'         => static fn() => '/widgets/' . $w() . '/calls?limit=25',
			'pages'         => static fn() => '/widgets/' . $w() . '/site-directory',
			'analytics'     => static fn() => '/widgets/' . $w() . '/analytics',
			'contacts'      => static fn() => '/contacts?limit=25',
		);
		foreach ( $get as $route => $path ) {
			register_rest_route(
				self::NS,
				'/' . $route,
				array(
					'methods'             => 'GET',
					'permission_callback' => array( __CLASS__, 'allowed' ),
					'callback'            => static fn() => self::relay( Ringside_Api::authed( 'GET', $path() ) ),
				)
			);
		}
		$visitor = array(
			'visitor' => array(
				'required'          => true,
				'validate_callback' => array( __CLASS__, 'id_arg' ),
			),
		);
		register_rest_route(
			self::NS,
			'/visitors/(?P<visitor>[A-Za-z0-9_-]+)/messages',
			array(
				array(
					'methods'             => 'GET',
					'permission_callback' => array( __CLASS__, 'allowed' ),
					'args'                => $visitor,
					'callback'            => static fn( WP_REST_Request $r ) => self::relay(
						Ringside_Api::authed( 'GET', '/widgets/' . $w() . '/messages?limit=100&visitorId=' . rawurlencode( $r['visitor'] ) )
					),
				),
				array(
					'methods'             => 'POST',
					'permission_callback' => array( __CLASS__, 'allowed' ),
					'args'                => $visitor,
					'callback'            => static fn( WP_REST_Request $r ) => self::relay(
						Ringside_Api::authed(
							'POST',
							'/widgets/' . $w() . '/messages',
							array(
								'visitorId' => $r['visitor'],
								'body'      => sanitize_textarea_field( (string) $r->get_param( 'body' ) ),
								'sender'    => 'operator',
							)
						)
					),
				),
			)
		);
		register_rest_route(
			self::NS,
			'/visitors/(?P<visitor>[A-Za-z0-9_-]+)/notes',
			array(
				array(
					'methods'             => 'GET',
					'permission_callback' => array( __CLASS__, 'allowed' ),
					'args'                => $visitor,
					'callback'            => static fn( WP_REST_Request $r ) => self::relay(
						Ringside_Api::authed( 'GET', '/widgets/' . $w() . '/visitors/' . rawurlencode( $r['visitor'] ) . '/notes' )
					),
				),
				array(
					'methods'             => 'POST',
					'permission_callback' => array( __CLASS__, 'allowed' ),
					'args'                => $visitor,
					'callback'            => static fn( WP_REST_Request $r ) => self::relay(
						Ringside_Api::authed(
							'POST',
							'/widgets/' . $w() . '/visitors/' . rawurlencode( $r['visitor'] ) . '/notes',
							array( 'body' => sanitize_textarea_field( (string) $r->get_param( 'body' ) ) )
						)
					),
				),
			)
		);
		register_rest_route(
			self::NS,
			'/visitors/(?P<visitor>[A-Za-z0-9_-]+)/navigate',
			array(
				'methods'             => 'POST',
				'permission_callback' => array( __CLASS__, 'allowed' ),
				'args'                => $visitor,
				'callback'            => static fn( WP_REST_Request $r ) => self::relay(
					Ringside_Api::authed(
						'POST',
						'/widgets/' . $w() . '/visitors/' . rawurlencode( $r['visitor'] ) . '/direct-navigate',
						array( 'url' => esc_url_raw( (string) $r->get_param( 'url' ) ) )
					)
				),
			)
		);
		register_rest_route(
			self::NS,
			'/visitors/(?P<visitor>[A-Za-z0-9_-]+)/answer-link',
			array(
				'methods'             => 'POST',
				'permission_callback' => array( __CLASS__, 'allowed' ),
				'args'                => $visitor,
				'callback'            => static fn( WP_REST_Request $r ) => self::relay(
					Ringside_Api::authed(
						'POST',
						'/widgets/' . $w() . '/visitors/' . rawurlencode( $r['visitor'] ) . '/conversation-link',
						array( 'expiresInSeconds' => 600 )
					)
				),
			)
		);
		register_rest_route(
			self::NS,
			'/contacts/(?P<contact>[A-Za-z0-9_-]+)',
			array(
				'methods'             => 'PATCH',
				'permission_callback' => array( __CLASS__, 'allowed' ),
				'args'                => array(
					'contact' => array(
						'required'          => true,
						'validate_callback' => array( __CLASS__, 'id_arg' ),
					),
					'status'  => array(
						'required' => true,
						'enum'     => array( 'lead', 'qualified', 'customer', 'disqualified', 'archived' ),
					),
				),
				'callback'            => static fn( WP_REST_Request $r ) => self::relay(
					Ringside_Api::authed( 'PATCH', '/contacts/' . rawurlencode( $r['contact'] ), array( 'status' => $r['status'] ) )
				),
			)
		);
	}

	/**
	 * The server's answer as this route's, or its error with the server's status.
	 *
	 * @param array|WP_Error $resp What the server said.
	 * @return WP_REST_Response|WP_Error
	 */
	private static function relay( $resp ) {
		if ( is_wp_error( $resp ) ) {
			$data = $resp->get_error_data();
			return new WP_Error( $resp->get_error_code(), $resp->get_error_message(), array( 'status' => is_array( $data ) && isset( $data['status'] ) ? (int) $data['status'] : 502 ) );
		}
		return new WP_REST_Response( $resp['body'], $resp['status'] );
	}
}
