// Package middleware wraps AWS Lambda handlers in DynamoDB locks whose IDs
// come from their events, so that one entity (an order, an account, a
// scheduled job) is handled by one invocation at a time, and makes them
// idempotent, so that duplicates of an event have their effect once:
//
//	locks, err := lock.NewClient(ctx, lock.Config{TableName: "locks"})
//	h, err := middleware.WrapSQS(locks, middleware.SQSBody("orderId"), handle,
//		middleware.WithNamespace("order"),
//		middleware.WithIdempotency(middleware.SQSMessageID()))
//	lambda.Start(h)
//
// [Wrap] serves handlers of the shape func(context.Context, TIn) (TOut,
// error) and [WrapNoOutput] those of the shape func(context.Context, TIn)
// error, such as EventBridge and scheduled handlers; [WrapSQS] serves an
// SQS batch, locking per record and reporting partial batch failures;
// [WrapHTTP] serves API Gateway, function URL and load balancer requests;
// [WrapKinesis] and [WrapDynamoDBStream] serve stream batches, record by
// record in order. (A handler of another shape lambda.Start accepts, such
// as one without a context, becomes one of these in a closure.) Each
// wrapper returns the handler and an error: a configuration that cannot
// work (no namespace, a key expression that does not compile, an option the
// wrapper cannot apply) is refused when the handler is built, never on the
// first event.
//
// A [Key] derives the lock keys from the event: a JMESPath expression
// ([JMESPath], [SQSBody], [EventBridgeDetail], [KinesisData], an HTTP
// trigger's Body), a field of the event ([SQSMessageID],
// [SQSMessageGroupID], [EventBridgeID], [KinesisPartitionKey],
// [DynamoDBKeys], an HTTP trigger's PathParameter, Header or Query), a
// constant ([Constant]) or any Go function ([KeyFunc]). Keys become lock
// IDs under a namespace that every wrapper must be given
// ([WithNamespace]): "sku/BLUE-MUG". Functions that pass the same
// namespace exclude each other on the same keys, whatever their triggers.
//
// # The lease follows the invocation
//
// A lock is leased until the invocation's deadline plus a second's grace,
// so the lock of an invocation that Lambda stops at its timeout frees
// itself shortly after. Nothing extends the lease past that: it has no
// heartbeat, and the handler's own lock.Lease.Extend past it fails with
// lock.ErrInvalidInput without a request. The handler's context ends a
// reserve ([WithReserve]) before the deadline, leaving time to release the
// lock, which happens before the wrapped handler returns: nothing the
// middleware starts runs after it returns. An event with too little time
// left for a useful lease, or for the handler ([WithMinTimeLeft]), fails
// with [ErrNoTime] without taking a lock. Without a deadline (local runs),
// the lease lasts the lock client's TTL. The handler finds its lease, with
// its lock IDs and fencing tokens, with lock.FromContext.
//
// # When the lock is held
//
// [WithOnHeld] chooses: [Fail] (the default) reports the record or
// invocation as failed, so Lambda retries it; [Skip] acknowledges it
// without running the handler; [Wait] waits for the lock within the
// invocation's time, then fails (with an error matching both
// lock.ErrLockAlreadyAcquired and [ErrNoTime]).
//
// # Each event once
//
// [WithIdempotency] runs each event's handler once per idempotency key in
// every wrapper: a duplicate of a completed event is answered from the
// store ([WrapHTTP] replays the stored response). The handler's
// lock.Lease.Complete commits its DynamoDB writes with the event's
// completion, in one transaction.
package middleware
