/**
 * Static answers of the Odoo fake that depend only on the version: window actions returned by
 * wizards, the web session info, the 404 pages. Copied in shape (and in their constant values)
 * from real Odoo 17.0, 18.0 and 19.0 servers.
 *
 * @internal
 */
export type Version = 17 | 18 | 19

export const serverVersion = (v: Version): string =>
  v === 17 ? "17.0-20240709" : v === 18 ? "18.0-20250702" : "19.0"

export const versionInfo = (v: Version) => ({
  server_version: serverVersion(v),
  server_version_info: [v, 0, 0, "final", 0, ""],
  server_serie: `${v}.0`,
  protocol_version: 1
})

const invoiceHelp =
  "<p class=\"o_view_nocontent_smiling_face\">\n                Create a customer invoice\n              </p><p>\n                Create invoices, register payments and keep track of the discussions with your customers.\n              </p>\n            "

/** The action `sale.advance.payment.inv.create_invoices` returns for one invoice. */
export const invoicesAction = (
  v: Version,
  invoiceId: number,
  partnerId: number,
  origin: string
): Record<string, unknown> => {
  if (v === 17) {
    return {
      id: 256,
      name: "Invoices",
      type: "ir.actions.act_window",
      xml_id: "account.action_move_out_invoice_type",
      help: invoiceHelp,
      binding_model_id: false,
      binding_type: "action",
      binding_view_types: "list,form",
      display_name: "Invoices",
      view_id: [690, "account.out.invoice.tree"],
      domain: "[('move_type', '=', 'out_invoice')]",
      context: {
        default_move_type: "out_invoice",
        default_partner_id: partnerId,
        default_partner_shipping_id: partnerId,
        default_invoice_payment_term_id: null,
        default_invoice_origin: origin
      },
      res_id: invoiceId,
      res_model: "account.move",
      target: "current",
      view_mode: "tree,kanban,form,activity",
      mobile_view_mode: "kanban",
      views: [[697, "form"], [690, "tree"], [false, "kanban"], [false, "activity"]],
      limit: 80,
      groups_id: [],
      search_view_id: [700, "account.invoice.select"],
      filter: false
    }
  }
  if (v === 18) {
    return {
      id: 264,
      name: "Invoices",
      type: "ir.actions.act_window",
      xml_id: "account.action_move_out_invoice_type",
      path: "invoicing",
      help: invoiceHelp,
      binding_model_id: false,
      binding_type: "action",
      binding_view_types: "list,form",
      display_name: "Invoices",
      view_id: [725, "account.out.invoice.list"],
      domain: "[('move_type', 'in', ['out_invoice', 'out_refund'])]",
      context: {
        default_move_type: "out_invoice",
        default_partner_id: partnerId,
        default_partner_shipping_id: partnerId,
        default_invoice_payment_term_id: null,
        default_invoice_origin: origin
      },
      res_id: invoiceId,
      res_model: "account.move",
      target: "current",
      view_mode: "list,kanban,form,activity",
      mobile_view_mode: "kanban",
      views: [[732, "form"], [725, "list"], [false, "kanban"], [false, "activity"]],
      limit: 80,
      groups_id: [],
      search_view_id: [735, "account.invoice.select"],
      embedded_action_ids: [],
      filter: false
    }
  }
  return {
    id: 263,
    display_name: "Invoices",
    name: "Invoices",
    type: "ir.actions.act_window",
    xml_id: "account.action_move_out_invoice_type",
    path: "invoicing",
    help: invoiceHelp,
    binding_model_id: false,
    binding_type: "action",
    binding_view_types: "list,form",
    view_id: [752, "account.out.invoice.list"],
    domain: "[('move_type', 'in', ['out_invoice', 'out_refund', 'out_receipt'])]",
    context: {
      default_move_type: "out_invoice",
      default_partner_id: partnerId,
      default_partner_shipping_id: partnerId,
      default_invoice_payment_term_id: null
    },
    res_id: invoiceId,
    res_model: "account.move",
    target: "current",
    view_mode: "list,kanban,form,activity",
    mobile_view_mode: "kanban",
    views: [[758, "form"], [752, "list"], [false, "kanban"], [false, "activity"]],
    limit: 80,
    group_ids: [],
    search_view_id: [761, "account.invoice.select"],
    embedded_action_ids: [],
    filter: false,
    cache: true
  }
}

/** The action returned when several invoices were created at once. */
export const invoicesListAction = (v: Version, invoiceIds: ReadonlyArray<number>): Record<string, unknown> => {
  const single = invoicesAction(v, 0, 0, "")
  const { res_id: _resId, context: _context, ...rest } = single
  return { ...rest, domain: `[('id', 'in', [${invoiceIds.join(", ")}])]`, context: { default_move_type: "out_invoice" } }
}

const smsView = (v: Version): number => (v === 17 ? 1194 : v === 18 ? 1263 : 1292)
const backorderView = (v: Version): number => (v === 17 ? 968 : v === 18 ? 1025 : 1085)

export const smsAction = (
  v: Version,
  wizardId: number,
  pickingIds: ReadonlyArray<number>,
  context: Readonly<Record<string, unknown>> = {}
) => ({
  name: "SMS",
  type: "ir.actions.act_window",
  view_mode: "form",
  res_model: "confirm.stock.sms",
  views: [[smsView(v), "form"]],
  view_id: smsView(v),
  target: "new",
  res_id: wizardId,
  // Odoo returns the whole context of the validation (skip_backorder, ...) with the wizard
  context: { ...context, button_validate_picking_ids: [...pickingIds] }
})

export const backorderAction = (
  v: Version,
  validateIds: ReadonlyArray<number>,
  backorderIds: ReadonlyArray<number>,
  context: Readonly<Record<string, unknown>> = {}
) => ({
  name: "Create Backorder?",
  type: "ir.actions.act_window",
  view_mode: "form",
  res_model: "stock.backorder.confirmation",
  views: [[backorderView(v), "form"]],
  view_id: backorderView(v),
  target: "new",
  context: {
    ...context,
    button_validate_picking_ids: [...validateIds],
    default_show_transfers: false,
    default_pick_ids: backorderIds.map((id) => [4, id])
  }
})

export const carrierAction = (v: Version, wizardId: number): Record<string, unknown> => ({
  name: "Add a shipping method",
  type: "ir.actions.act_window",
  view_mode: "form",
  res_model: "choose.delivery.carrier",
  res_id: wizardId,
  target: "new",
  ...(v >= 18 ? { context: { no_rate: false } } : {})
})

export const paymentsAction = (paymentId: number) => ({
  name: "Payments",
  type: "ir.actions.act_window",
  res_model: "account.payment",
  context: { create: false },
  view_mode: "form",
  res_id: paymentId
})

const viewInfo = {
  list: { display_name: "List", icon: "oi oi-view-list", multi_record: true },
  form: { display_name: "Form", icon: "fa fa-address-card", multi_record: false },
  graph: { display_name: "Graph", icon: "fa fa-area-chart", multi_record: true },
  pivot: { display_name: "Pivot", icon: "oi oi-view-pivot", multi_record: true },
  calendar: { display_name: "Calendar", icon: "fa fa-calendar", multi_record: true },
  kanban: { display_name: "Kanban", icon: "oi oi-view-kanban", multi_record: true },
  search: { display_name: "Search", icon: "oi oi-search", multi_record: true },
  activity: { display_name: "Activity", icon: "fa fa-clock-o", multi_record: true }
}

const tour = {
  name: "sale_tour",
  url: "/odoo",
  custom: false,
  steps: [],
  rainbowManMessage:
    "<span><b>Congratulations</b>, your first quotation is sent!<br>Check your email to validate the quote.\n        </span>"
}

/** `/web/session/authenticate` result for the admin user. */
export const sessionInfo = (
  v: Version,
  input: { readonly db: string; readonly baseUrl: string; readonly uid: number; readonly partnerWriteDate: string }
): Record<string, unknown> => {
  const common = {
    uid: input.uid,
    is_system: true,
    is_admin: true,
    ...(v >= 18 ? { is_public: false } : {}),
    is_internal_user: true,
    user_context: { lang: "en_US", tz: false, uid: input.uid },
    db: input.db
  }
  const allowed = {
    current_company: 1,
    allowed_companies: {
      "1": { id: 1, name: "My Company", sequence: 0, child_ids: [], parent_id: false, ...(v >= 19 ? { currency_id: 1 } : {}) }
    },
    disallowed_ancestor_companies: {}
  }
  const profile = { profile_session: null, profile_collectors: null, profile_params: null }
  if (v === 17) {
    return {
      ...common,
      user_settings: {
        id: 1,
        user_id: { id: 2 },
        is_discuss_sidebar_category_channel_open: true,
        is_discuss_sidebar_category_chat_open: true,
        push_to_talk_key: false,
        use_push_to_talk: false,
        voice_active_duration: 200,
        volume_settings_ids: [["ADD", []]]
      },
      server_version: serverVersion(v),
      server_version_info: [17, 0, 0, "final", 0, ""],
      support_url: "https://www.odoo.com/buy",
      name: "Administrator",
      username: "admin",
      partner_display_name: "Administrator",
      partner_id: 3,
      "web.base.url": input.baseUrl,
      active_ids_limit: 20000,
      ...profile,
      max_file_upload_size: 134217728,
      home_action_id: false,
      cache_hashes: {
        translations: "2d1b31dc62272f5a19b8526709e350cc96a8cde0",
        load_menus: "67493d0608e603d1d914f527334defd4173901f420fe75046a45d71ec49a5bbb"
      },
      currencies: { "1": { symbol: "$", position: "before", digits: [69, 2] } },
      bundle_params: { lang: "en_US" },
      user_companies: allowed,
      show_effect: true,
      display_switch_company_menu: false,
      user_id: [input.uid],
      max_time_between_keys_in_ms: 100,
      web_tours: [],
      tour_disable: false,
      notification_type: "email",
      odoobot_initialized: false,
      iap_company_enrich: true,
      is_quick_edit_mode_enabled: false
    }
  }
  const settings18 = {
    id: 1,
    user_id: { id: 2 },
    is_discuss_sidebar_category_channel_open: true,
    is_discuss_sidebar_category_chat_open: true,
    push_to_talk_key: false,
    use_push_to_talk: false,
    voice_active_duration: 200,
    channel_notifications: false,
    mute_until_dt: false,
    volumes: [["ADD", []]]
  }
  if (v === 18) {
    return {
      ...common,
      user_settings: settings18,
      server_version: serverVersion(v),
      server_version_info: [18, 0, 0, "final", 0, ""],
      support_url: "https://www.odoo.com/buy",
      name: "Administrator",
      username: "admin",
      partner_write_date: input.partnerWriteDate,
      partner_display_name: "Administrator",
      partner_id: 3,
      "web.base.url": input.baseUrl,
      active_ids_limit: 20000,
      ...profile,
      max_file_upload_size: 134217728,
      home_action_id: false,
      cache_hashes: {
        translations: "2f0f86f158f5eaefcacad9af5b095ac76e9de1c6",
        load_menus: "0610445871a861199e4d5ac1ab68aa4379a34b1b419b9da832fa5493cb65773a"
      },
      currencies: { "1": { symbol: "$", position: "before", digits: [69, 2] } },
      bundle_params: { lang: "en_US" },
      test_mode: false,
      view_info: viewInfo,
      user_companies: allowed,
      show_effect: true,
      display_switch_company_menu: false,
      max_time_between_keys_in_ms: 150,
      websocket_worker_version: "18.0-5",
      tour_enabled: true,
      current_tour: tour,
      storeData: {
        Store: {
          action_discuss_id: 126,
          channel_types_with_seen_infos: ["chat", "group"],
          hasGifPickerFeature: false,
          hasLinkPreviewFeature: true,
          hasMessageTranslationFeature: false,
          internalUserGroupId: 1,
          mt_comment_id: 1,
          odoobot: { id: 2, type: "partner" },
          self: { id: 3, type: "partner" },
          settings: settings18
        },
        "res.partner": [
          {
            active: false,
            avatar_128_access_token: "97781038fbd1b02b2a734494097367cb9f9405296314b86839fa3f4cbc936982o0x6b2f2f51",
            email: "odoobot@example.com",
            id: 2,
            im_status: "bot",
            isInternalUser: true,
            is_company: false,
            name: "OdooBot",
            userId: 1,
            write_date: input.partnerWriteDate
          },
          {
            active: true,
            avatar_128_access_token: "c7f99ab8390468ca6fce55bf1a4b22e336a9e376b742f1fdbaaeb759ea3a3392o0x6b2f3078",
            id: 3,
            isAdmin: true,
            isInternalUser: true,
            name: "Administrator",
            notification_preference: "email",
            signature: "<span data-o-mail-quote=\"1\">-- <br data-o-mail-quote=\"1\">\nAdministrator</span>",
            userId: 2,
            write_date: input.partnerWriteDate
          }
        ]
      },
      iap_company_enrich: true,
      can_insert_in_spreadsheet: false
    }
  }
  const settings19 = {
    id: 1,
    embedded_actions_config_ids: {},
    is_discuss_sidebar_category_channel_open: true,
    is_discuss_sidebar_category_chat_open: true,
    push_to_talk_key: false,
    use_push_to_talk: false,
    voice_active_duration: 200,
    channel_notifications: false,
    user_id: { id: 2 },
    volumes: [["ADD", []]]
  }
  return {
    ...common,
    registry_hash: "db67c1b2f1e80c388bed2a92566d300498978f8bf2b1ff8779b6a7fbb605ec59",
    user_settings: settings19,
    server_version: serverVersion(v),
    server_version_info: [19, 0, 0, "final", 0, ""],
    support_url: "https://www.odoo.com/buy",
    name: "Administrator",
    username: "admin",
    quick_login: true,
    partner_write_date: input.partnerWriteDate,
    partner_display_name: "Administrator",
    partner_id: 3,
    "web.base.url": input.baseUrl,
    active_ids_limit: 20000,
    ...profile,
    max_file_upload_size: 134217728,
    home_action_id: false,
    currencies: { "1": { name: "USD", symbol: "$", position: "before", digits: [69, 2] } },
    bundle_params: { lang: "en_US" },
    test_mode: false,
    view_info: viewInfo,
    groups: { "base.group_allow_export": true },
    user_companies: allowed,
    show_effect: true,
    max_time_between_keys_in_ms: 150,
    websocket_worker_version: "19.0-2",
    tour_enabled: true,
    current_tour: { url: tour.url, custom: tour.custom, name: tour.name, steps: [], rainbowManMessage: tour.rainbowManMessage },
    storeData: {
      Store: {
        action_discuss_id: 125,
        channel_types_with_seen_infos: ["chat", "group"],
        hasCannedResponses: true,
        hasGifPickerFeature: false,
        hasLinkPreviewFeature: true,
        hasMessageTranslationFeature: false,
        internalUserGroupId: 1,
        mt_comment: 1,
        mt_note: 2,
        odoobot: 2,
        self_partner: 3,
        settings: settings19
      },
      "res.partner": [
        {
          active: false,
          avatar_128_access_token: "1acaed4900fcf8ca40dc1a0f502aec1b806b565cd57b1d1686ae72a5de0cec75o0x6b2f2f51",
          email: "odoobot@example.com",
          id: 2,
          im_status: "bot",
          im_status_access_token: "88fea7a885dca2dcbbbeeb1b433ba513a66ff630d1e600496d98fea0c7b43a0co0x6b2ea475",
          is_company: false,
          main_user_id: 1,
          name: "OdooBot",
          write_date: input.partnerWriteDate
        },
        {
          active: true,
          avatar_128_access_token: "f3ef54238074ce428ae71d1aa1c87a88658ac82d6ad1a794aeff212daed05cd0o0x6b2f3078",
          id: 3,
          im_status: "offline",
          im_status_access_token: "21346fbc41fe4eeeed2b404b6b3f78a5a3aff515a6ec727c080b2fed2f9befbbo0x6b2ea589",
          main_user_id: 2,
          name: "Administrator",
          write_date: input.partnerWriteDate
        }
      ],
      "res.users": [
        { id: 1, share: false },
        { id: 2, is_admin: true, notification_type: "email", share: false, signature: ["markup", "<div>Administrator</div>"] }
      ]
    },
    iap_company_enrich: true,
    can_insert_in_spreadsheet: false
  }
}

/** The page Odoo serves for an unknown route (content shortened). */
export const notFoundPage =
  "<!DOCTYPE html>\n<html>\n    <head>\n        <meta charset=\"utf-8\"/>\n        <title>Odoo</title>\n    </head>\n    <body>\n        <h1>404: Page not found!</h1>\n        <p>The page you were looking for could not be found; it is possible you have typed the address incorrectly, but it has most probably been removed due to the recent website reorganisation.</p>\n    </body>\n</html>\n"

/** The page Odoo 19 serves on `/json/2` when no database is selected. */
export const noDatabasePage =
  "<!DOCTYPE html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>No database is selected and the requested URL was not found in the server-wide controllers.</p>\n<p>Please verify the hostname, <a href=/web/login>login</a> and try again.</p>\n\n<!-- Alternatively, use the X-Odoo-Database header. -->\n"

export const pickingCreatedBody = (orderId: number, orderName: string): string =>
  `<p>\n                This transfer has been created from:\n                    <a href="#" data-oe-model="sale.order" data-oe-id="${orderId}"> ${orderName}</a>\n            </p>`
