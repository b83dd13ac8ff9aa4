/**
 * The Ringside operator panel: fills the panel's sections from the plugin's REST routes
 * (wp.apiFetch with the page's nonce). Everything shown is set as text, never as HTML.
 */
(function () {
	'use strict';
	var cfg = window.RingsidePanel || {};
	var __ = ( window.wp && wp.i18n && wp.i18n.__ ) || function ( s ) { return s; };
	wp.apiFetch.use( wp.apiFetch.createNonceMiddleware( cfg.nonce ) );
	var status = document.querySelector( '.ringside-status' );
	var current = null; // The visitor whose chat is open.

	function call( path, method, data ) {
		return wp.apiFetch( { url: cfg.root + path, method: method || 'GET', data: data } );
	}
	// The list in an answer: the answer itself, or its list field (data, visitors, messages,
	// notes, callbacks, pages...).
	function list( x ) {
		if ( Array.isArray( x ) ) { return x; }
		if ( x && typeof x === 'object' ) {
			var keys = Object.keys( x );
			for ( var i = 0; i < keys.length; i++ ) {
				if ( Array.isArray( x[ keys[ i ] ] ) ) { return x[ keys[ i ] ]; }
			}
		}
		return [];
	}
	function el( tag, text, cls ) {
		var e = document.createElement( tag );
		if ( text !== undefined && text !== null ) { e.textContent = String( text ); }
		if ( cls ) { e.className = cls; }
		return e;
	}
	function body( id ) { return document.querySelector( '#ringside-' + id + ' .ringside-body' ); }
	function when( ms ) { return ms ? new Date( ms ).toLocaleString() : ''; }
	function say( text ) { if ( status ) { status.textContent = text; } }
	function fill( id, items, row, empty ) {
		var b = body( id );
		b.textContent = '';
		if ( ! items.length ) { b.appendChild( el( 'p', empty, 'description' ) ); return; }
		var ul = el( 'ul', null, 'ringside-list' );
		items.forEach( function ( it ) { ul.appendChild( row( it ) ); } );
		b.appendChild( ul );
	}
	function button( text, onClick, cls ) {
		var b = el( 'button', text, 'button ' + ( cls || '' ) );
		b.type = 'button';
		b.addEventListener( 'click', onClick );
		return b;
	}

	function visitors() {
		return call( '/live-visitors' ).then( function ( r ) {
			fill( 'visitors', list( r ), function ( v ) {
				var li = el( 'li' );
				li.appendChild( el( 'strong', v.pageTitle || v.currentUrl || v.visitorId ) );
				li.appendChild( el( 'span', ' ' + [ v.browser, v.os, v.device, v.ip ].filter( Boolean ).join( ' · ' ), 'description' ) );
				li.appendChild( button( __( 'Chat', 'ringside' ), function () { openChat( v.visitorId ); } ) );
				return li;
			}, __( 'No one is on the site right now.', 'ringside' ) );
		} );
	}

	function calls() {
		return call( '/calls-waiting' ).then( function ( r ) {
			fill( 'calls', list( r ), function ( c ) {
				var li = el( 'li' );
				li.appendChild( el( 'strong', c.from || __( 'A visitor', 'ringside' ) ) );
				li.appendChild( el( 'span', ' ' + when( c.startedAt ), 'description' ) );
				if ( c.visitorId ) {
					li.appendChild( button( __( 'Answer in Ringside', 'ringside' ), function () { answer( c.visitorId ); }, 'button-primary' ) );
				}
				return li;
			}, __( 'No call is waiting.', 'ringside' ) );
		} );
	}

	// Voice and video answer in the full Ringside dashboard, through a signed link opened as
	// a top-level window (the browser needs the microphone there, not in wp-admin).
	function answer( visitorId ) {
		var w = window.open( '', '_blank' );
		call( '/visitors/' + encodeURIComponent( visitorId ) + '/answer-link', 'POST', {} ).then( function ( r ) {
			if ( w ) { w.opener = null; w.location = r.url; }
		} ).catch( function ( e ) { if ( w ) { w.close(); } say( e.message ); } );
	}

	function openChat( visitorId ) {
		current = visitorId;
		var b = body( 'chat' );
		b.textContent = '';
		b.appendChild( el( 'p', __( 'Visitor', 'ringside' ) + ' ' + visitorId, 'description' ) );
		var log = el( 'ol', null, 'ringside-messages' );
		log.setAttribute( 'aria-live', 'polite' );
		b.appendChild( log );
		var form = el( 'form', null, 'ringside-reply' );
		var label = el( 'label', __( 'Reply', 'ringside' ) );
		label.htmlFor = 'ringside-reply-text';
		var text = el( 'textarea' );
		text.id = 'ringside-reply-text';
		text.rows = 2;
		text.required = true;
		form.appendChild( label );
		form.appendChild( text );
		var send = el( 'button', __( 'Send', 'ringside' ), 'button button-primary' );
		send.type = 'submit';
		form.appendChild( send );
		form.addEventListener( 'submit', function ( ev ) {
			ev.preventDefault();
			send.disabled = true;
			call( '/visitors/' + encodeURIComponent( visitorId ) + '/messages', 'POST', { body: text.value } ).then( function () {
				text.value = '';
				return messages();
			} ).catch( function ( e ) { say( e.message ); } ).then( function () { send.disabled = false; } );
		} );
		b.appendChild( form );
		// Internal notes and sending the visitor to a page.
		var notes = el( 'ul', null, 'ringside-notes' );
		b.appendChild( el( 'h3', __( 'Internal notes', 'ringside' ) ) );
		b.appendChild( notes );
		var noteForm = el( 'form' );
		var noteText = el( 'input' );
		noteText.type = 'text';
		noteText.id = 'ringside-note-text';
		noteText.setAttribute( 'aria-label', __( 'New note', 'ringside' ) );
		noteForm.appendChild( noteText );
		var add = el( 'button', __( 'Add note', 'ringside' ), 'button' );
		add.type = 'submit';
		noteForm.appendChild( add );
		noteForm.addEventListener( 'submit', function ( ev ) {
			ev.preventDefault();
			call( '/visitors/' + encodeURIComponent( visitorId ) + '/notes', 'POST', { body: noteText.value } ).then( function () {
				noteText.value = '';
				return loadNotes( visitorId, notes );
			} ).catch( function ( e ) { say( e.message ); } );
		} );
		b.appendChild( noteForm );
		b.appendChild( el( 'h3', __( 'Send the visitor to a page', 'ringside' ) ) );
		var navForm = el( 'form' );
		var navUrl = el( 'input' );
		navUrl.type = 'text';
		navUrl.id = 'ringside-navigate-url';
		navUrl.placeholder = '/pricing';
		navUrl.setAttribute( 'aria-label', __( 'Page to send the visitor to', 'ringside' ) );
		navForm.appendChild( navUrl );
		var go = el( 'button', __( 'Send to page', 'ringside' ), 'button' );
		go.type = 'submit';
		navForm.appendChild( go );
		navForm.addEventListener( 'submit', function ( ev ) {
			ev.preventDefault();
			navigate( visitorId, navUrl.value );
		} );
		b.appendChild( navForm );
		loadNotes( visitorId, notes );
		return messages();
	}

	function navigate( visitorId, url ) {
		return call( '/visitors/' + encodeURIComponent( visitorId ) + '/navigate', 'POST', { url: url } ).then( function () {
			say( __( 'Sent: the visitor’s page follows within seconds.', 'ringside' ) );
		} ).catch( function ( e ) { say( e.message ); } );
	}

	function loadNotes( visitorId, ul ) {
		return call( '/visitors/' + encodeURIComponent( visitorId ) + '/notes' ).then( function ( r ) {
			ul.textContent = '';
			list( r ).forEach( function ( n ) { ul.appendChild( el( 'li', n.body ) ); } );
		} );
	}

	function messages() {
		if ( ! current ) { return Promise.resolve(); }
		var visitorId = current;
		return call( '/visitors/' + encodeURIComponent( visitorId ) + '/messages' ).then( function ( r ) {
			var log = document.querySelector( '#ringside-chat .ringside-messages' );
			if ( ! log || visitorId !== current ) { return; }
			log.textContent = '';
			list( r ).forEach( function ( m ) {
				var li = el( 'li', null, 'ringside-msg ringside-' + m.sender );
				li.appendChild( el( 'span', m.sender === 'visitor' ? __( 'Visitor', 'ringside' ) : __( 'Team', 'ringside' ), 'ringside-who' ) );
				li.appendChild( el( 'span', m.body, 'ringside-text' ) );
				log.appendChild( li );
			} );
		} );
	}

	function callbacks() {
		return call( '/callbacks' ).then( function ( r ) {
			fill( 'callbacks', list( r ), function ( c ) {
				var li = el( 'li' );
				li.appendChild( el( 'strong', [ c.name, c.phone, c.email ].filter( Boolean ).join( ' · ' ) || c.kind ) );
				li.appendChild( el( 'span', ' ' + ( c.message || '' ) + ' ' + when( c.createdAt ), 'description' ) );
				if ( c.voiceNote && cfg.voiceNote ) {
					var audio = el( 'audio' );
					audio.controls = true;
					audio.preload = 'none';
					audio.src = cfg.voiceNote + '&callback=' + encodeURIComponent( c.id );
					li.appendChild( audio );
				}
				return li;
			}, __( 'No callback request yet.', 'ringside' ) );
		} );
	}

	var STATUSES = [ 'lead', 'qualified', 'customer', 'disqualified', 'archived' ];
	function contacts() {
		return call( '/contacts' ).then( function ( r ) {
			fill( 'contacts', list( r ), function ( c ) {
				var li = el( 'li' );
				var name = [ c.firstName, c.lastName ].filter( Boolean ).join( ' ' ) || c.email || c.phone || c.id;
				li.appendChild( el( 'strong', name ) );
				li.appendChild( el( 'span', ' ' + [ c.email, c.phone ].filter( Boolean ).join( ' · ' ) + ' ', 'description' ) );
				var sel = el( 'select' );
				sel.setAttribute( 'aria-label', __( 'Status of', 'ringside' ) + ' ' + name );
				STATUSES.forEach( function ( s ) {
					var o = el( 'option', s );
					o.value = s;
					o.selected = c.status === s;
					sel.appendChild( o );
				} );
				sel.addEventListener( 'change', function () {
					call( '/contacts/' + encodeURIComponent( c.id ), 'PATCH', { status: sel.value } ).then( function () {
						say( __( 'Saved.', 'ringside' ) );
					} ).catch( function ( e ) { say( e.message ); } );
				} );
				li.appendChild( sel );
				return li;
			}, __( 'No contact yet.', 'ringside' ) );
		} );
	}

	function history() {
		return call( '/calls' ).then( function ( r ) {
			fill( 'history', list( r ), function ( c ) {
				return el( 'li', [ when( c.startedAt ), c.from, c.status, c.durationMs ? Math.round( c.durationMs / 1000 ) + ' s' : '' ].filter( Boolean ).join( ' · ' ) );
			}, __( 'No call yet.', 'ringside' ) );
		} );
	}

	// The site's pages as visitors saw them; each can be the page the open chat's visitor is
	// sent to.
	function pages() {
		return call( '/pages' ).then( function ( r ) {
			fill( 'pages', list( r ), function ( p ) {
				var li = el( 'li', ( p.title || p.path ) + ' · ' + p.views + ' ' );
				li.appendChild( button( __( 'Send the visitor here', 'ringside' ), function () {
					if ( ! current ) { say( __( 'Open a visitor’s chat first.', 'ringside' ) ); return; }
					navigate( current, p.path );
				} ) );
				return li;
			}, __( 'No page seen yet.', 'ringside' ) );
		} );
	}

	function analytics() {
		return call( '/analytics' ).then( function ( r ) {
			var t = ( r && r.totals ) || {};
			var items = [
				[ __( 'Visitors', 'ringside' ), t.visitors ],
				[ __( 'Live now', 'ringside' ), t.liveNow ],
				[ __( 'Returning', 'ringside' ), t.returningVisitors ],
				[ __( 'Sessions', 'ringside' ), t.sessions ]
			];
			fill( 'analytics', items, function ( i ) { return el( 'li', i[ 0 ] + ': ' + ( i[ 1 ] || 0 ) ); }, '' );
		} );
	}

	function refresh() {
		return Promise.all( [ visitors(), calls(), messages() ].map( function ( p ) {
			return p.catch( function ( e ) { say( e.message ); } );
		} ) );
	}
	[ callbacks, contacts, history, pages, analytics ].forEach( function ( f ) {
		f().catch( function ( e ) { say( e.message ); } );
	} );
	refresh();
	setInterval( refresh, 3000 );
}() );
