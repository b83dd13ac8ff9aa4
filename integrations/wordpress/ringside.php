<?php
/**
 * Plugin Name:       Ringside
 * Plugin URI:        https://github.com/ringside/ringside
 * Description:       Website chat and calls from your own Ringside server: the widget on every page, and an operator panel in wp-admin (live visitors, waiting calls, chats, callbacks, notes, call history, pages and analytics).
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      8.1
 * Author:            Ringside
 * License:           Apache-2.0
 * Text Domain:       ringside
 * Domain Path:       /languages
 *
 * @package Ringside
 */

defined( 'ABSPATH' ) || exit;

define( 'RINGSIDE_VERSION', '0.1.0' );
define( 'RINGSIDE_FILE', __FILE__ );
define( 'RINGSIDE_DIR', plugin_dir_path( __FILE__ ) );
define( 'RINGSIDE_URL', plugin_dir_url( __FILE__ ) );

require_once RINGSIDE_DIR . 'includes/class-ringside-options.php';
require_once RINGSIDE_DIR . 'includes/class-ringside-api.php';
require_once RINGSIDE_DIR . 'includes/class-ringside-setup.php';
require_once RINGSIDE_DIR . 'includes/class-ringside-frontend.php';
require_once RINGSIDE_DIR . 'includes/class-ringside-panel.php';

add_action(
	'plugins_loaded',
	static function () {
		load_plugin_textdomain( 'ringside', false, dirname( plugin_basename( RINGSIDE_FILE ) ) . '/languages' );
	}
);

Ringside_Setup::init();
Ringside_Frontend::init();
Ringside_Panel::init();
