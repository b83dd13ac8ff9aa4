<?php
/**
 * Setup (administrators only): sign in to a Ringside server with a one-time code mailed to
 * the account's email, then the plugin creates a widget for this site's domain (or connects
 * the account's widget that already allows it) and keeps an API token for the operator
 * panel. A widget id and key copied from the Ringside dashboard are the manual fallback.
 *
 * @package Ringside
 */

defined( 'ABSPATH' ) || exit;

/**
 * The setup page and its form handlers (admin-post.php, each with its nonce).
 */
final class Ringside_Setup {

	/** What the panel's token may do on the server. */
	const SCOPES = array( 'widgets:read', 'widgets:write', 'messages:read', 'messages:write', 'calls:read', 'analytics:read' );

	/** Page slug. */
	const PAGE = 'ringside-setup';

	/**
	 * Hooks.
	 */
	public static function init(): void {
		add_action( 'admin_menu', array( __CLASS__, 'menu' ), 20 );
		foreach ( array( 'send_code', 'verify_code', 'manual', 'disconnect' ) as $step ) {
			add_action( 'admin_post_ringside_' . $step, array( __CLASS__, $step ) );
		}
	}

	/**
	 * The setup page, under the Ringside menu.
	 */
	public static function menu(): void {
		add_submenu_page(
			Ringside_Panel::PAGE,
			__( 'Ringside setup', 'ringside' ),
			__( 'Setup', 'ringside' ),
			'manage_options',
			self::PAGE,
			array( __CLASS__, 'render' )
		);
	}

	/**
	 * The code being set up by this administrator: server URL and email, for an hour.
	 */
	private static function pending_key(): string {
		return 'ringside_setup_' . get_current_user_id();
	}

	/**
	 * Back to the setup page with a notice.
	 *
	 * @param string $notice Notice key.
	 * @param string $error  Error text, if any.
	 */
	private static function back( string $notice, string $error = '' ): void {
		$args = array(
			'page'   => self::PAGE,
			'notice' => $notice,
		);
		if ( '' !== $error ) {
			set_transient( 'ringside_error_' . get_current_user_id(), $error, 300 );
		}
		wp_safe_redirect( add_query_arg( $args, admin_url( 'admin.php' ) ) );
		exit;
	}

	/**
	 * Refuses anyone but administrators, and requests without this form's nonce.
	 *
	 * @param string $action The form's action.
	 */
	private static function guard( string $action ): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'Only administrators can set up Ringside.', 'ringside' ), 403 );
		}
		check_admin_referer( $action );
	}

	/**
	 * This site's host name (what the widget must allow).
	 */
	public static function site_host(): string {
		return (string) wp_parse_url( home_url(), PHP_URL_HOST );
	}

	/**
	 * Step 1: mail a sign-in code.
	 */
	public static function send_code(): void {
		self::guard( 'ringside_send_code' );
		$server = esc_url_raw( untrailingslashit( trim( wp_unslash( $_POST['server'] ?? '' ) ) ), array( 'http', 'https' ) );
		$email  = sanitize_email( wp_unslash( $_POST['email'] ?? '' ) );
		if ( '' === $server || ! is_email( $email ) ) {
			self::back( 'error', __( 'Give the Ringside server address and your email address.', 'ringside' ) );
		}
		$resp = Ringside_Api::request( 'POST', '/api/v1/auth/email-code', array( 'email' => $email ), array(), $server );
		if ( is_wp_error( $resp ) ) {
			self::back( 'error', $resp->get_error_message() );
		}
		set_transient(
			self::pending_key(),
			array(
				'server' => $server,
				'email'  => $email,
			),
			HOUR_IN_SECONDS
		);
		self::back( 'code' );
	}

	/**
	 * Step 2: sign in with the code, make a token for the panel, create or connect the widget,
	 * sign the session out again.
	 */
	public static function verify_code(): void {
		self::guard( 'ringside_verify_code' );
		$pending = get_transient( self::pending_key() );
		$code    = preg_replace( '/\D/', '', (string) wp_unslash( $_POST['code'] ?? '' ) );
		if ( ! is_array( $pending ) || '' === $code ) {
			self::back( 'error', __( 'Ask for a new code first.', 'ringside' ) );
		}
		$server = $pending['server'];
		$signin = Ringside_Api::request(
			'POST',
			'/api/v1/auth/session',
			array(
				'email' => $pending['email'],
				'code'  => $code,
			),
			array(),
			$server
		);
		if ( is_wp_error( $signin ) ) {
			self::back( 'code', $signin->get_error_message() );
		}
		$cookie = '';
		foreach ( $signin['cookies'] as $c ) {
			if ( $c instanceof WP_Http_Cookie && 'ringside_session' === $c->name ) {
				$cookie = 'ringside_session=' . $c->value;
			}
		}
		$session = array(
			'Cookie'       => $cookie,
			'X-CSRF-Token' => (string) ( $signin['body']['csrfToken'] ?? '' ),
		);
		$host    = self::site_host();
		$made    = Ringside_Api::request(
			'POST',
			'/api/v1/tokens',
			array(
				/* translators: %s: the site's host name. */
				'name'   => sprintf( __( 'WordPress: %s', 'ringside' ), $host ),
				'scopes' => self::SCOPES,
			),
			$session,
			$server
		);
		// The session is not needed any more, whatever happens next.
		Ringside_Api::request( 'DELETE', '/api/v1/auth/session', null, $session, $server );
		if ( is_wp_error( $made ) || empty( $made['body']['token'] ) ) {
			self::back(
				'error',
				sprintf(
					/* translators: %s: the Ringside server's reason. */
					__( 'Ringside refused to connect this site with that account: %s', 'ringside' ),
					is_wp_error( $made ) ? $made->get_error_message() : __( 'no token was made', 'ringside' )
				)
			);
		}
		update_option( Ringside_Options::SERVER, $server );
		update_option( Ringside_Options::ACCOUNT, $pending['email'] );
		Ringside_Options::set_token( (string) $made['body']['token'] );
		delete_transient( self::pending_key() );
		$connected = self::connect_widget( $host );
		if ( is_wp_error( $connected ) ) {
			self::back( 'error', $connected->get_error_message() );
		}
		self::back( 'done' );
	}

	/**
	 * The account's widget that allows this site, or a new one for it; stores its id, key and
	 * script.
	 *
	 * @param string $host This site's host.
	 * @return true|WP_Error
	 */
	private static function connect_widget( string $host ) {
		$list = Ringside_Api::authed( 'GET', '/widgets' );
		if ( is_wp_error( $list ) ) {
			return $list;
		}
		$widget = null;
		foreach ( (array) ( $list['body']['data'] ?? array() ) as $w ) {
			if ( in_array( $host, (array) ( $w['allowedDomains'] ?? array() ), true ) ) {
				$widget = $w;
				break;
			}
		}
		if ( null === $widget ) {
			$made = Ringside_Api::authed(
				'POST',
				'/widgets',
				array(
					'name'           => wp_strip_all_tags( get_bloginfo( 'name' ) ) ? wp_strip_all_tags( get_bloginfo( 'name' ) ) : $host,
					'allowedDomains' => array( $host ),
				)
			);
			if ( is_wp_error( $made ) ) {
				return $made;
			}
			$widget = $made['body'];
		}
		return self::store_widget( (string) ( $widget['id'] ?? '' ), (string) ( $widget['publicKey'] ?? '' ) );
	}

	/**
	 * Stores a widget and its script address.
	 *
	 * @param string $id  Widget id.
	 * @param string $key Its public key.
	 * @return true|WP_Error
	 */
	private static function store_widget( string $id, string $key ) {
		if ( ! preg_match( '/^[A-Za-z0-9_-]{1,64}$/', $id ) || ! preg_match( '/^[A-Za-z0-9_-]{1,128}$/', $key ) ) {
			return new WP_Error( 'ringside_widget', __( 'That is not a widget id and key.', 'ringside' ) );
		}
		update_option( Ringside_Options::WIDGET_ID, $id );
		update_option( Ringside_Options::WIDGET_KEY, $key );
		update_option( Ringside_Options::SCRIPT_URL, Ringside_Options::server() . '/widget.js' );
		return true;
	}

	/**
	 * The manual fallback: a server, widget id and key from the Ringside dashboard's snippet
	 * (the widget shows; the operator panel needs the code setup).
	 */
	public static function manual(): void {
		self::guard( 'ringside_manual' );
		$server = esc_url_raw( untrailingslashit( trim( wp_unslash( $_POST['server'] ?? '' ) ) ), array( 'http', 'https' ) );
		if ( '' === $server ) {
			self::back( 'error', __( 'Give the Ringside server address.', 'ringside' ) );
		}
		update_option( Ringside_Options::SERVER, $server );
		$stored = self::store_widget(
			sanitize_text_field( wp_unslash( $_POST['widget_id'] ?? '' ) ),
			sanitize_text_field( wp_unslash( $_POST['widget_key'] ?? '' ) )
		);
		if ( is_wp_error( $stored ) ) {
			self::back( 'error', $stored->get_error_message() );
		}
		self::back( 'done' );
	}

	/**
	 * Forget the server, widget and token (the widget leaves the site's pages).
	 */
	public static function disconnect(): void {
		self::guard( 'ringside_disconnect' );
		Ringside_Options::clear();
		self::back( 'disconnected' );
	}

	/**
	 * The setup page.
	 */
	public static function render(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'Only administrators can set up Ringside.', 'ringside' ), 403 );
		}
		$notice  = sanitize_key( wp_unslash( $_GET['notice'] ?? '' ) );
		$error   = (string) get_transient( 'ringside_error_' . get_current_user_id() );
		$pending = get_transient( self::pending_key() );
		delete_transient( 'ringside_error_' . get_current_user_id() );
		$action = admin_url( 'admin-post.php' );
		echo '<div class="wrap"><h1>' . esc_html__( 'Ringside setup', 'ringside' ) . '</h1>';
		if ( '' !== $error ) {
			echo '<div class="notice notice-error"><p>' . esc_html( $error ) . '</p></div>';
		} elseif ( 'done' === $notice ) {
			echo '<div class="notice notice-success"><p>' . esc_html__( 'Connected: the widget is on your site.', 'ringside' ) . '</p></div>';
		} elseif ( 'disconnected' === $notice ) {
			echo '<div class="notice notice-success"><p>' . esc_html__( 'Disconnected.', 'ringside' ) . '</p></div>';
		}
		if ( Ringside_Options::connected() ) {
			echo '<h2>' . esc_html__( 'Connected', 'ringside' ) . '</h2><table class="form-table" role="presentation"><tbody>';
			echo '<tr><th scope="row">' . esc_html__( 'Server', 'ringside' ) . '</th><td><code>' . esc_html( Ringside_Options::server() ) . '</code></td></tr>';
			echo '<tr><th scope="row">' . esc_html__( 'Widget', 'ringside' ) . '</th><td><code id="ringside-widget-id">' . esc_html( Ringside_Options::widget_id() ) . '</code></td></tr>';
			echo '<tr><th scope="row">' . esc_html__( 'Operator panel', 'ringside' ) . '</th><td>';
			if ( '' !== Ringside_Options::token() ) {
				esc_html_e( 'ready', 'ringside' );
			} else {
				esc_html_e( 'needs the email setup (manual setup shows the widget only)', 'ringside' );
			}
			echo '</td></tr>';
			echo '</tbody></table>';
			echo '<form method="post" action="' . esc_url( $action ) . '">';
			wp_nonce_field( 'ringside_disconnect' );
			echo '<input type="hidden" name="action" value="ringside_disconnect">';
			submit_button( __( 'Disconnect', 'ringside' ), 'delete' );
			echo '</form>';
		}
		if ( 'code' === $notice && is_array( $pending ) ) {
			echo '<h2>' . esc_html__( 'Enter the code', 'ringside' ) . '</h2>';
			/* translators: %s: email address. */
			echo '<p>' . esc_html( sprintf( __( 'We sent a six-digit code to %s.', 'ringside' ), $pending['email'] ) ) . '</p>';
			echo '<form method="post" action="' . esc_url( $action ) . '" id="ringside-code-form">';
			wp_nonce_field( 'ringside_verify_code' );
			echo '<input type="hidden" name="action" value="ringside_verify_code">';
			echo '<p><label for="ringside-code">' . esc_html__( 'Code', 'ringside' ) . '</label> ';
			echo '<input id="ringside-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="6" required></p>';
			submit_button( __( 'Connect', 'ringside' ) );
			echo '</form>';
		}
		echo '<h2>' . esc_html__( 'Set up with your email', 'ringside' ) . '</h2>';
		echo '<p>' . esc_html__( 'Ringside mails you a one-time code. The plugin then creates a widget for this site (or connects the one that already allows it) and keeps a token for the operator panel.', 'ringside' ) . '</p>';
		echo '<form method="post" action="' . esc_url( $action ) . '" id="ringside-email-form">';
		wp_nonce_field( 'ringside_send_code' );
		echo '<input type="hidden" name="action" value="ringside_send_code">';
		echo '<table class="form-table" role="presentation"><tbody>';
		echo '<tr><th scope="row"><label for="ringside-server">' . esc_html__( 'Ringside server', 'ringside' ) . '</label></th><td><input id="ringside-server" name="server" type="url" class="regular-text" required placeholder="https://calls.example.com" value="' . esc_attr( Ringside_Options::server() ) . '"></td></tr>';
		echo '<tr><th scope="row"><label for="ringside-email">' . esc_html__( 'Your email', 'ringside' ) . '</label></th><td><input id="ringside-email" name="email" type="email" class="regular-text" required value="' . esc_attr( (string) get_option( Ringside_Options::ACCOUNT, wp_get_current_user()->user_email ) ) . '"></td></tr>';
		echo '</tbody></table>';
		submit_button( __( 'Send me a code', 'ringside' ) );
		echo '</form>';
		echo '<h2>' . esc_html__( 'Or connect a widget by hand', 'ringside' ) . '</h2>';
		echo '<p>' . esc_html__( 'Copy the widget id and key from the install snippet on the widget page of the Ringside dashboard.', 'ringside' ) . '</p>';
		echo '<form method="post" action="' . esc_url( $action ) . '" id="ringside-manual-form">';
		wp_nonce_field( 'ringside_manual' );
		echo '<input type="hidden" name="action" value="ringside_manual">';
		echo '<table class="form-table" role="presentation"><tbody>';
		echo '<tr><th scope="row"><label for="ringside-manual-server">' . esc_html__( 'Ringside server', 'ringside' ) . '</label></th><td><input id="ringside-manual-server" name="server" type="url" class="regular-text" required></td></tr>';
		echo '<tr><th scope="row"><label for="ringside-widget-id-input">' . esc_html__( 'Widget id', 'ringside' ) . '</label></th><td><input id="ringside-widget-id-input" name="widget_id" type="text" class="regular-text" required></td></tr>';
		echo '<tr><th scope="row"><label for="ringside-widget-key">' . esc_html__( 'Widget key', 'ringside' ) . '</label></th><td><input id="ringside-widget-key" name="widget_key" type="text" class="regular-text" required></td></tr>';
		echo '</tbody></table>';
		submit_button( __( 'Connect this widget', 'ringside' ), 'secondary' );
		echo '</form></div>';
	}
}
