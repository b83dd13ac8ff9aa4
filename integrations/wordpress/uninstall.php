<?php
/**
 * Uninstall: removes everything the plugin stored (its options and transients).
 *
 * @package Ringside
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

foreach ( array( 'ringside_server_url', 'ringside_widget_id', 'ringside_widget_key', 'ringside_script_url', 'ringside_token', 'ringside_account_email' ) as $ringside_option ) {
	delete_option( $ringside_option );
}
global $wpdb;
// The setup's per-user transients (ringside_setup_<user>, ringside_error_<user>).
$wpdb->query( "DELETE FROM {$wpdb->options} WHERE option_name LIKE '\\_transient\\_ringside\\_%' OR option_name LIKE '\\_transient\\_timeout\\_ringside\\_%'" ); // phpcs:ignore WordPress.DB.DirectDatabaseQuery -- one-off cleanup of our own transients.
