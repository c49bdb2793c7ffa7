"""The Alerts and Dashboard components: per region an SNS topic and its alarms; per environment one dashboard.

    alerts = Alerts("alerts-us-east-1", AlertsArgs(env="prod", region="us-east-1", alert_emails=["ml@example.com"],
                    ingress=IngressSignals(...), cluster=ClusterSignals(name="rayfleet-prod-us-east-1"), tags=ctx),
                    opts=pulumi.ResourceOptions(provider=aws_us_east_1))
    Dashboard("dashboard-prod", DashboardArgs(env="prod", sections={"us-east-1": alerts.plans}),
              opts=pulumi.ResourceOptions(provider=aws_us_east_1))

Which alarms, on which metrics, and when they fire come from plan.py; this
module only turns them into resources. Every alarm notifies its own region's
topic (CloudWatch alarm actions name a topic of the alarm's region), on ALARM
and again on OK, so the e-mail that says "broken" is followed by one that says
"recovered".
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.alarms import plan
from components.alarms.args import AlertsArgs, DashboardArgs
from components.alarms.dashboard import dashboard_body, dashboard_name
from components.tags import build_tags

COMPONENT = "alarms"


class Alerts(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    #: What the alarms are made of, in order: the dashboard renders the same.
    plans: list[plan.AlarmPlan]
    alarms: dict[str, aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"rayfleet:{COMPONENT}:Alerts", name, None, opts)
        self.args = args
        topic = self._topic(name)
        self.topic_arn = topic.arn
        self.plans = self._plans()
        self.alarms = {p.name: self._alarm(name, p) for p in self.plans}
        self.register_outputs({"topicArn": self.topic_arn, "alarmNames": [p.name for p in self.plans]})

    def _plans(self) -> list[plan.AlarmPlan]:
        args, plans = self.args, []
        if args.ingress is not None:
            plans += plan.ingress_alarms(
                args.env,
                args.region,
                args.ingress.load_balancer_arn_suffix,
                args.ingress.target_group_arn_suffix,
                args.ingress.min_healthy_targets,
                args.thresholds,
            )
        if args.cluster is not None:
            cluster = args.cluster
            plans += plan.cluster_alarms(
                args.env, args.region, cluster.name, cluster.spot_groups, cluster.drift_thresholds
            )
        plans += [plan.health_check_alarm(args.env, region, check, args.thresholds)
                  for region, check in args.health_checks.items()]
        return plans + self._next_slot_plans()

    def _next_slot_plans(self) -> list[plan.AlarmPlan]:
        """Mid-upgrade, the new slot's own target group and cluster, watched beside the live slot's."""
        args, slot = self.args, self.args.next_slot
        if slot is None or args.ingress is None:
            return []
        own = plan.slot_serving_alarms(args.env, args.region, args.ingress.load_balancer_arn_suffix,
                                       slot.target_group_arn_suffix, args.thresholds)
        if args.ingress.min_healthy_targets > 0:
            own.append(plan.healthy_targets_alarm(args.env, args.region, args.ingress.load_balancer_arn_suffix,
                                                  slot.target_group_arn_suffix, args.ingress.min_healthy_targets,
                                                  args.thresholds))
        cluster = slot.cluster
        own += plan.cluster_alarms(args.env, args.region, cluster.name, cluster.spot_groups, cluster.drift_thresholds)
        return plan.for_slot(own, args.env, slot.slot)

    def _watched(self) -> list[str]:
        """The regions whose alarms live here: this one's (when it has a cluster), and every region whose
        Route 53 health check is alarmed here."""
        has_own = self.args.cluster is not None or self.args.ingress is not None
        own = [self.args.region] if has_own else []
        return own + [region for region in self.args.health_checks if region not in own]

    def _topic(self, name: str) -> aws.sns.Topic:
        """The region's topic, its policy (who may publish) and one e-mail subscription per address."""
        args = self.args
        topic_name = plan.topic_name(args.env, args.region)
        topic = aws.sns.Topic(
            f"{name}-topic",
            name=topic_name,
            tags=build_tags(args.tags, COMPONENT, name=topic_name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, account_id).apply(
                lambda values: json.dumps(
                    plan.topic_policy(values[0], values[1], args.env, args.region, self._watched(), args.budgets_publish)
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for index, email in enumerate(args.alert_emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{index}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=pulumi.ResourceOptions(parent=self),
            )
        return topic

    def _alarm(self, name: str, alarm: plan.AlarmPlan) -> aws.cloudwatch.MetricAlarm:
        """One alarm from its plan: a single metric read directly, or metric math over several."""
        single = alarm.expression is None
        metric = alarm.metrics[0]
        extended = single and metric.stat not in plan.STANDARD_STATISTICS
        return aws.cloudwatch.MetricAlarm(
            f"{name}-{alarm.watches}-{alarm.what}" if alarm.watches else f"{name}-{alarm.what}",
            name=alarm.name,
            alarm_description=alarm.description,
            namespace=metric.namespace if single else None,
            metric_name=metric.name if single else None,
            dimensions=dict(metric.dimensions) if single else None,
            statistic=metric.stat if single and not extended else None,
            extended_statistic=metric.stat if extended else None,
            period=alarm.period if single else None,
            metric_queries=None if single else self._queries(alarm),
            comparison_operator=alarm.comparison,
            threshold=alarm.threshold,
            evaluation_periods=alarm.evaluation_periods,
            datapoints_to_alarm=alarm.datapoints_to_alarm,
            treat_missing_data=alarm.treat_missing_data,
            alarm_actions=[self.topic_arn],
            ok_actions=[self.topic_arn],
            tags=build_tags(self.args.tags, COMPONENT, name=alarm.name),
            opts=pulumi.ResourceOptions(parent=self),
        )

    @staticmethod
    def _queries(alarm: plan.AlarmPlan) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgs]:
        """The expression is the alarm's one returned series; its inputs are fetched, not returned."""
        inputs = [
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=m.id,
                return_data=False,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace=m.namespace,
                    metric_name=m.name,
                    dimensions=dict(m.dimensions),
                    stat=m.stat,
                    period=alarm.period,
                ),
            )
            for m in alarm.metrics
        ]
        expression = aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id="e1", expression=alarm.expression, label=alarm.what, return_data=True
        )
        return [*inputs, expression]


class Dashboard(pulumi.ComponentResource):
    """One CloudWatch dashboard for the environment (dashboards are account-wide; each graph names its region)."""

    def __init__(self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"rayfleet:{COMPONENT}:Dashboard", name, None, opts)
        # Output.from_input resolves the outputs nested in the body (the load balancers' names, ...).
        body = pulumi.Output.from_input(dashboard_body(args.env, args.sections)).apply(
            lambda resolved: json.dumps(resolved, sort_keys=True)
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=dashboard_name(args.env),
            dashboard_body=body,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = dashboard_name(args.env)
        self.register_outputs({"dashboardName": self.name})
