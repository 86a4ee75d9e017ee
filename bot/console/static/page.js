// Pages with nothing of their own to load: the header (who is logged in, 退出登录) only.
HuiminApi.header();
